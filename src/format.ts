/** Formatting shared by the log and the job summary. */

/** '0.3 s', '10 s', '12.5 s': a tenth of a second is as fine as a step's timings get; '' when unknown. */
export function seconds(ms: number | undefined): string {
  return ms === undefined ? '' : `${Math.round(ms / 100) / 10} s`;
}
