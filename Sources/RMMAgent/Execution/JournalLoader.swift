import Foundation

/// Parsing, compaction and encoding of journal lines; pure functions, no I/O.
enum JournalLoader {
    /// What a journal file held: the latest state per id, and how many lines were unreadable.
    struct Loaded {
        var states: [String: JournalState]
        var damaged: Int
    }

    static func load(_ data: Data) -> Loaded {
        var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        // Everything after the last newline is a write the crash interrupted (or "" after a clean one).
        if !lines.isEmpty { lines.removeLast() }
        let decoder = JSONDecoder()
        var states: [String: JournalState] = [:]
        var damaged = 0
        for (index, line) in lines.enumerated() where !line.isEmpty {
            // A damaged line costs only itself: the others are independent facts.
            guard let record = try? decoder.decode(JournalRecord.self, from: Data(line)) else {
                damaged += 1
                continue
            }
            if let current = states[record.id], JournalState.rank(current.record.kind) >= JournalState.rank(record.kind) {
                continue
            }
            states[record.id] = JournalState(record: record, sequence: index)
        }
        return Loaded(states: states, damaged: damaged)
    }

    /// Keeps every id that is not yet reported or whose signed deadline (plus skew) has not passed:
    /// a copy of such a command could still arrive and must be recognised. Returns them oldest
    /// first, renumbered from 0.
    static func compacted(_ states: [String: JournalState], now: Double) -> [JournalState] {
        let kept = states.values.filter { !isForgettable($0, now: now) }.sorted { $0.sequence < $1.sequence }
        return kept.enumerated().map { index, state in JournalState(record: state.record, sequence: index) }
    }

    /// True when nothing about the id is owed to the server and no copy of it can be accepted any more.
    static func isForgettable(_ state: JournalState, now: Double) -> Bool {
        state.record.kind == .reported && now > state.record.forgettableAt
    }

    static func encode(_ states: [JournalState]) throws -> Data {
        var data = Data()
        for state in states { data.append(try line(state.record)) }
        return data
    }

    /// One record as a single JSON line (JSON escapes newlines inside strings, so the line cannot split).
    static func line(_ record: JournalRecord) throws -> Data {
        var data = try JSONEncoder().encode(record)
        data.append(UInt8(ascii: "\n"))
        return data
    }
}
