import Foundation
import RMMProtocol

/// The agent's durable record of every command it accepted: makes execution exactly-once across redelivery and restarts.
///
/// One JSON line per fact, fsynced before the call returns, so a command id the agent acked is on
/// disk even if the power goes a moment later. Opening compacts the file to one line per id.
public actor CommandJournal {
    /// The latest fact about one command id.
    public enum Entry: Sendable, Equatable {
        case admitted
        case started(pid: Int32?)
        case finished(CommandResult)
        case reported
    }

    /// Most command ids remembered at once. Every id is kept until its signed deadline (plus skew)
    /// has passed; when this many are still within it, new commands are refused instead of
    /// forgetting ids (which would let a replay run twice).
    public static let defaultCapacity = 100_000
    static let fileName = "commands.journal"

    private let directory: String
    private let platform: any CommandPlatform
    private let file: JournalFile
    private var states: [String: JournalState]
    private var nextSequence: Int
    private let capacity: Int
    /// Damaged lines skipped when the journal was opened (a torn last line is not counted: it is expected after a crash).
    public nonisolated let damagedLinesSkipped: Int

    /// Creates the directory (0700) and file (0600) if needed, loads and compacts what is there.
    public init(directory: String) throws {
        try self.init(directory: directory, platform: currentCommandPlatform(), now: Date().timeIntervalSince1970)
    }

    /// As `init(directory:)`, with the platform (for killing orphans) and the clock (for forgetting) given.
    public init(directory: String, platform: any CommandPlatform, now: Double, capacity: Int = CommandJournal.defaultCapacity) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        // An existing directory keeps its mode otherwise; command ids and outputs are nobody else's business.
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: directory)
        let path = directory + "/" + Self.fileName
        var info = stat()
        let existing: Data
        if let data = FileManager.default.contents(atPath: path) {
            existing = data
        } else if lstat(path, &info) == 0 {
            // There but unreadable: treating it as empty would compact the record of every command
            // ever run into nothing, and let redelivered ones run again.
            throw JournalError(description: "cannot read the journal \(path); it is left as it is (fix its permissions, or restore it)")
        } else {
            existing = Data()
        }
        let loaded = JournalLoader.load(existing)
        let kept = JournalLoader.compacted(loaded.states, now: now)
        try JournalFile.replace(path: path, directory: directory, contents: JournalLoader.encode(kept))
        self.directory = directory
        self.platform = platform
        self.file = try JournalFile(path: path)
        self.states = Dictionary(uniqueKeysWithValues: kept.map { ($0.record.id, $0) })
        self.nextSequence = kept.count
        self.capacity = capacity
        self.damagedLinesSkipped = loaded.damaged
    }

    public func entry(_ commandId: String) -> Entry? {
        states[commandId]?.entry
    }

    /// What `admit` did with a command id.
    public enum Admission: Sendable, Equatable {
        /// Recorded durably: the command may be acked and run.
        case admitted
        /// Already journaled (a retransmission): ack it again, never run it again.
        case duplicate
        /// Not recorded: the journal holds `capacity` ids still within their signed validity.
        case full(String)
    }

    /// Durably (fsync) records a new command id before the agent acks it, to be remembered until
    /// `forgetAfter` (Unix seconds: its signed deadline plus skew) has passed and it is reported.
    public func admit(_ commandId: String, forgetAfter: Double, now: Double? = nil) throws -> Admission {
        let now = now ?? ExecutionClock.unixSeconds()
        guard states[commandId] == nil else { return .duplicate }
        if states.count >= capacity {
            forgetExpired(now: now)
            if states.count >= capacity {
                return .full("the agent's journal holds \(states.count) command ids that are still within their signed validity (capacity \(capacity)); retry after some expire")
            }
        }
        try append(JournalRecord(id: commandId, kind: .admitted, time: now, forgetAfter: forgetAfter))
        return .admitted
    }

    /// Drops the ids nothing is owed on and no copy of which can be accepted any more (memory only:
    /// their lines go at the next compaction, when the agent starts).
    private func forgetExpired(now: Double) {
        states = states.filter { !JournalLoader.isForgettable($0.value, now: now) }
    }

    public func recordStarted(_ commandId: String, pid: Int32?) throws {
        // Identify the process now, while it runs, so recovery can tell it from a later process reusing the pid.
        let identity = pid.flatMap { platform.processIdentity(pid: $0) }
        try advance(JournalRecord(id: commandId, kind: .started, time: ExecutionClock.unixSeconds(), pid: pid, identity: identity))
    }

    /// Durable; the result is kept until reported.
    public func recordFinished(_ result: CommandResult) throws {
        try advance(JournalRecord(id: result.commandId, kind: .finished, time: ExecutionClock.unixSeconds(), result: result))
    }

    /// The server confirmed it stored the result: drop the output, keep the id.
    public func recordReported(_ commandId: String) throws {
        // A refusal that was never journaled (a forged frame, a full journal) leaves no trace here.
        guard states[commandId] != nil else { return }
        try advance(JournalRecord(id: commandId, kind: .reported, time: ExecutionClock.unixSeconds()))
    }

    /// Results not yet confirmed by the server, oldest first.
    public func unreportedResults() -> [CommandResult] {
        states.values.sorted { $0.sequence < $1.sequence }.compactMap { state in
            state.record.kind == .finished ? state.record.result : nil
        }
    }

    /// Called once at agent start: every command admitted or started but never finished is marked
    /// finished with status .interrupted, durably, and returned. A recorded process group still alive is killed first.
    public func recoverInterrupted(now: Double) throws -> [CommandResult] {
        let pending = states.values.filter { $0.record.kind == .admitted || $0.record.kind == .started }.sorted { $0.sequence < $1.sequence }
        var results: [CommandResult] = []
        for state in pending {
            let record = state.record
            let wasStarted = record.kind == .started
            if wasStarted, let pid = record.pid {
                // The old agent's child may still run; it must not run on unobserved next to a retry.
                platform.killOrphanedProcessGroup(leader: pid, identity: record.identity)
            }
            let result = CommandResult(
                commandId: record.id, status: .interrupted,
                reason: wasStarted ? "agent restarted while the command was running" : "agent restarted before the command started",
                startedAt: wasStarted ? record.time : nil, finishedAt: now
            )
            try advance(JournalRecord(id: record.id, kind: .finished, time: now, result: result))
            results.append(result)
        }
        return results
    }

    /// Appends `record` unless the id already went as far (facts never move an id backwards).
    private func advance(_ record: JournalRecord) throws {
        var record = record
        if let current = states[record.id] {
            if JournalState.rank(current.record.kind) >= JournalState.rank(record.kind) { return }
            record.forgetAfter = record.forgetAfter ?? current.record.forgetAfter
        }
        try append(record)
    }

    /// Disk first, memory second: if the write fails, nothing claims the fact was recorded.
    private func append(_ record: JournalRecord) throws {
        try file.append(JournalLoader.line(record))
        states[record.id] = JournalState(record: record, sequence: nextSequence)
        nextSequence += 1
    }
}
