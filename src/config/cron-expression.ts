import { CronTime } from 'cron';

/** Why `REFRESH_CRON` cannot be scheduled, as the one line a failed start prints; null when it can. */
export function refreshCronProblem(expression: string): string | null {
  let time: CronTime;
  try {
    time = new CronTime(expression);
  } catch (error) {
    return `REFRESH_CRON=${JSON.stringify(expression)} is not a valid cron expression: ${(error as Error).message}`;
  }
  // A valid expression may match no date at all (the 30th of February): the job's start would throw.
  try {
    time.sendAt();
    return null;
  } catch {
    return `REFRESH_CRON=${JSON.stringify(expression)} never fires: no date matches it`;
  }
}
