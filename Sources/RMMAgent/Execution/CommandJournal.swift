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

    /// Reported ids are remembered this long, so a late redelivery is still recognised as a duplicate.
    static let reportedRetention: Double = 7 * 24 * 3600
    /// ... and the newest ids are remembered however old they are.
    static let minimumRemembered = 10_000
    static let fileName = "commands.journal"

    private let directory: String
    private let platform: any CommandPlatform
    private let file: JournalFile
    private var states: [String: JournalState]
    private var nextSequence: Int
    /// Damaged lines skipped when the journal was opened (a torn last line is not counted: it is expected after a crash).
    public nonisolated let damagedLinesSkipped: Int

    /// Creates the directory (0700) and file (0600) if needed, loads and compacts what is there.
    public init(directory: String) throws {
        try self.init(directory: directory, platform: currentCommandPlatform(), now: Date().timeIntervalSince1970)
    }

    /// As `init(directory:)`, with the platform (for killing orphans) and the clock (for forgetting) given.
    public init(directory: String, platform: any CommandPlatform, now: Double) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        // An existing directory keeps its mode otherwise; command ids and outputs are nobody else's business.
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: directory)
        let path = directory + "/" + Self.fileName
        let existing = FileManager.default.contents(atPath: path) ?? Data()
        let loaded = JournalLoader.load(existing)
        let kept = JournalLoader.compacted(loaded.states, now: now, retention: Self.reportedRetention, minimumRemembered: Self.minimumRemembered)
        try JournalFile.replace(path: path, directory: directory, contents: JournalLoader.encode(kept))
        self.directory = directory
        self.platform = platform
        self.file = try JournalFile(path: path)
        self.states = Dictionary(uniqueKeysWithValues: kept.map { ($0.record.id, $0) })
        self.nextSequence = kept.count
        self.damagedLinesSkipped = loaded.damaged
    }

    public func entry(_ commandId: String) -> Entry? {
        states[commandId]?.entry
    }

    /// Durably (fsync) records a new command id before the agent acks it; returns false if the id was already journaled.
    public func admit(_ commandId: String) throws -> Bool {
        guard states[commandId] == nil else { return false }
        try append(JournalRecord(id: commandId, kind: .admitted, time: ExecutionClock.unixSeconds()))
        return true
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
        if let current = states[record.id], JournalState.rank(current.record.kind) >= JournalState.rank(record.kind) {
            return
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
