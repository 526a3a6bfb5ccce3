import { Clock } from '../token-pool/clock';
import { ADMIN_SESSION_TTL_MS, AdminSessionStore } from './admin-session.store';

class ManualClock extends Clock {
  time = 1_700_000_000_000;
  now(): number {
    return this.time;
  }
}

describe('AdminSessionStore', () => {
  let clock: ManualClock;
  let store: AdminSessionStore;

  beforeEach(() => {
    clock = new ManualClock();
    store = new AdminSessionStore(clock);
  });

  it('finds a session by its signed cookie value', () => {
    const { session, cookieValue } = store.create();
    expect(cookieValue.startsWith(`${session.id}.`)).toBe(true);
    expect(store.fromCookie(cookieValue)).toBe(session);
    expect(session.csrfToken).toMatch(/^[\w-]{32}$/);
  });

  it('refuses a missing, unsigned, forged or foreign cookie', () => {
    const { session, cookieValue } = store.create();
    const signature = cookieValue.slice(session.id.length + 1);
    expect(store.fromCookie(undefined)).toBeNull();
    expect(store.fromCookie(session.id)).toBeNull();
    expect(store.fromCookie(`${session.id}.${signature.slice(1)}x`)).toBeNull();
    expect(store.fromCookie(`other.${signature}`)).toBeNull();
    expect(new AdminSessionStore(clock).fromCookie(cookieValue)).toBeNull();
  });

  it('ends a session after 12 hours or when destroyed', () => {
    const first = store.create();
    clock.time += ADMIN_SESSION_TTL_MS - 1;
    expect(store.fromCookie(first.cookieValue)).not.toBeNull();
    clock.time += 1;
    expect(store.fromCookie(first.cookieValue)).toBeNull();

    const second = store.create();
    store.destroy(second.session);
    expect(store.fromCookie(second.cookieValue)).toBeNull();
  });

  it('hands a flash message out once', () => {
    const { session } = store.create();
    store.setFlash(session, { kind: 'success', text: 'Added 1, 0 duplicates, 0 invalid.' });
    expect(store.takeFlash(session)).toEqual({ kind: 'success', text: 'Added 1, 0 duplicates, 0 invalid.' });
    expect(store.takeFlash(session)).toBeUndefined();
  });
});
