import RMMProtocol

/// One line of the journal file: a single fact about one command id.
struct JournalRecord: Codable, Sendable, Equatable {
    /// Which fact this line records.
    enum Kind: String, Codable, Sendable {
        case admitted, started, finished, reported
    }

    var id: String
    var kind: Kind
    /// Unix seconds when the fact was recorded (for `reported`: when forgetting may start).
    var time: Double
    var pid: Int32?
    /// `CommandPlatform.processIdentity` of the leader when it started, to recognise it after a restart.
    var identity: String?
    var result: CommandResult?
    /// Unix seconds after which the id may be forgotten: its signed start deadline plus the allowed
    /// clock skew, past which no copy of the command can be accepted anyway. Carried on every fact
    /// about the id; nil on lines written before it existed.
    var forgetAfter: Double?

    /// When the id may be forgotten, for a line without `forgetAfter`: the longest validity a
    /// command can have, counted from when the fact was recorded.
    var forgettableAt: Double {
        forgetAfter ?? time + WorkLimits.maxValiditySeconds + WorkLimits.clockSkewSeconds
    }
}

/// Everything the journal knows about one command id: its latest fact.
struct JournalState: Sendable, Equatable {
    var record: JournalRecord
    /// Position of the latest fact in the journal's history; orders "oldest first".
    var sequence: Int

    var entry: CommandJournal.Entry {
        switch record.kind {
        case .admitted: return .admitted
        case .started: return .started(pid: record.pid)
        case .finished:
            // A finished record always carries its result; if a damaged line lost it, still never report "running".
            if let result = record.result { return .finished(result) }
            return .reported
        case .reported: return .reported
        }
    }

    /// How far along a command is; facts never move an id backwards (a late `started` cannot undo `finished`).
    static func rank(_ kind: JournalRecord.Kind) -> Int {
        switch kind {
        case .admitted: return 0
        case .started: return 1
        case .finished: return 2
        case .reported: return 3
        }
    }
}
