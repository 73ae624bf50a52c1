/**
 * The incremental answer shared by the sniffers of egress/sniff/: the bytes so far are a valid
 * prefix and the caller should call again with more.
 */

/**
 * The bytes so far are a valid prefix; call again once the buffer holds at least `need` bytes
 * in total (not additional). `need` is always greater than the current buffer length and never
 * greater than the parser's cap.
 */
export interface NeedMore {
  kind: 'need-more'
  need: number
}

/** A {@link NeedMore} for a buffer of `need` bytes in total. */
export function needMore(need: number): NeedMore {
  return { kind: 'need-more', need }
}
