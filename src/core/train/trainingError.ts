/** A training run that cannot start or go on as asked: its message is the line a user reads. */
export class TrainingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainingError';
  }
}
