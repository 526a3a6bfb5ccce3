import { CronTime } from 'cron';

/** Why `REFRESH_CRON` cannot be scheduled, as the one line a failed start prints; null when it can. */
export function refreshCronProblem(expression: string): string | null {
  try {
    new CronTime(expression);
    return null;
  } catch (error) {
    return `REFRESH_CRON=${JSON.stringify(expression)} is not a valid cron expression: ${(error as Error).message}`;
  }
}
