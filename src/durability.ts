/** What the use cases need of the journal: whether it takes new writes, and a wait for durability. */
export interface Durability {
  /** Throws the error a new write is refused with (a full or failing disk, a backlog, a stalled disk). */
  admit(): void;
  /** Resolves once everything recorded so far is durable; rejects with a 503 error past its timeout. */
  durable(): Promise<void>;
}
