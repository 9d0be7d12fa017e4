import GRDB
import Synchronization

/// The store-wide change counter (`change_counter`), read once at the start of each shared write
/// transaction, handed out from memory to the writes in it, and written back once before it commits.
///
/// Why: taking a version was one `UPDATE … RETURNING` statement per command step — a tenth of the
/// writer's time in a fan-out. Within the IMMEDIATE transaction no one else can change the row, so
/// the value read at its start stays true until the commit; a transaction that rolls back forgets
/// what it handed out (the next one reads the row again). A write that rolls back alone (its
/// savepoint) leaves a gap, which readers never notice: they ask for "changed after v".
final class VersionCounter: Sendable {
    private struct State {
        /// The last version handed out in this transaction; nil until the row was read.
        var value: Int?
        /// Something was handed out since the row was read.
        var dirty = false
    }

    private let state = Mutex(State())

    /// The next version (inside the shared transaction).
    func next(_ db: Database) throws -> Int {
        if let next = state.withLock({ state -> Int? in
            guard let value = state.value else { return nil }
            state.value = value + 1
            state.dirty = true
            return value + 1
        }) {
            return next
        }
        guard let stored = try Int.fetchOne(db.cachedStatement(sql: "SELECT value FROM change_counter WHERE id = 1")) else {
            throw StoreError.corrupt("change_counter row is missing")
        }
        return state.withLock { state in
            state.value = stored + 1
            state.dirty = true
            return stored + 1
        }
    }

    /// Writes the last version handed out back to the row (just before the commit).
    func save(_ db: Database) throws {
        guard let value = state.withLock({ $0.dirty ? $0.value : nil }) else { return }
        try db.executeCached(sql: "UPDATE change_counter SET value = ? WHERE id = 1", arguments: [value])
        state.withLock { $0.dirty = false }
    }

    /// Forgets the value: a new transaction reads the row again.
    func reset() {
        state.withLock { $0 = State() }
    }
}
