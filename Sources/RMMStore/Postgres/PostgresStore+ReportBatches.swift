import Foundation
import PostgresNIO
import RMMProtocol

/// Agents' reports, written in groups (`PostgresGroupWriter`): reports that arrive while the
/// report writers are busy share one transaction.
///
/// The shared transaction locks every command it names in id order (as any report run does), so
/// batches never deadlock each other. If it fails for a reason other than an unavailable
/// database (a row that cannot be read, say), or waits more than `sharedLockWait` for a row
/// another transaction holds, each agent's reports are written again alone, so only the one at
/// fault sees the error or the wait.
extension PostgresStore {
    /// One agent's reports, as `recordReports` was given them.
    struct AgentReports: Sendable {
        var agentId: String
        var steps: [(commandId: String, step: PostgresReportRun.Step)]
        var now: Date

        /// The output bytes they carry.
        var bytes: Int { steps.reduce(0) { $0 + $1.step.outputBytes } }
    }

    /// How many report transactions may run at once on a pool of `connections`: at most half of
    /// it (sends, connects and reads need the rest), and three at most, since more lanes only
    /// make each batch smaller.
    static func reportLanes(connections: Int) -> Int {
        max(1, min(3, connections / 2))
    }

    /// How long the shared transaction waits for a command row another transaction holds before
    /// the batch is written again agent by agent: one agent's stuck row must not hold up hundreds.
    static let sharedLockWait = "2s"

    /// Writes every agent's reports of `batch` in one transaction and returns each one's effects
    /// (or error), in `batch`'s order.
    func commitReports(_ batch: [AgentReports]) async -> [Result<[ReportEffect], any Error>] {
        if batch.count == 1 { return [await result { try await self.recordAlone(batch[0]) }] }
        let effects: [ReportEffect]
        do {
            effects = try await write { connection in
                do {
                    _ = try await connection.query("SET LOCAL lock_timeout = '\(unescaped: Self.sharedLockWait)'", logger: logger)
                    var run = try await PostgresReportRun.load(batch.flatMap(\.steps), connection, logger: logger)
                    var effects: [ReportEffect] = []
                    for reports in batch {
                        effects += reports.steps.map { run.apply($0.commandId, $0.step, agentId: reports.agentId, now: reports.now) }
                    }
                    return try await run.flush(effects, connection, logger: logger)
                } catch where Self.isLockConflict(error) {
                    throw SharedBatchBlocked()
                }
            }
        } catch StoreError.unavailable(let why) {
            // Stored or not, nobody knows (a lost answer to COMMIT, say): every caller retries,
            // its reports stay unacknowledged meanwhile, and a retry applies nothing twice.
            return batch.map { _ in .failure(StoreError.unavailable(why)) }
        } catch {
            // One agent's reports failed the shared transaction (a row that cannot be read) or
            // held it up (a row another transaction holds): each alone, so only that one sees it.
            return await eachAlone(batch)
        }
        var results: [Result<[ReportEffect], any Error>] = []
        var start = 0
        for reports in batch {
            let end = start + reports.steps.count
            // Committed: a count that does not match leaves the outcome unknown to the caller,
            // who retries (harmless, as every report applies once).
            guard end <= effects.count else { return batch.map { _ in .failure(StoreError.unavailable("a report batch answered \(effects.count) effects")) } }
            results.append(.success(Array(effects[start..<end])))
            start = end
        }
        return results
    }

    /// A shared report transaction waited too long for a row lock, or met a deadlock.
    private struct SharedBatchBlocked: Error {}

    /// Whether `error` is PostgreSQL giving up on a lock (`lock_timeout`, a deadlock, a
    /// serialization failure).
    private static func isLockConflict(_ error: any Error) -> Bool {
        sqlState(error).map { ["55P03", "40P01", "40001"].contains($0) } ?? false
    }

    /// Each agent's reports of `batch` in a transaction of its own, side by side, each waiting for
    /// a held row only as long as the shared one did: the agent whose row is held is told
    /// `unavailable` and retries, and the others are written meanwhile.
    private func eachAlone(_ batch: [AgentReports]) async -> [Result<[ReportEffect], any Error>] {
        await withTaskGroup(of: (Int, Result<[ReportEffect], any Error>).self) { group in
            for (index, reports) in batch.enumerated() {
                group.addTask { (index, await self.result { try await self.recordAlone(reports, lockWait: Self.sharedLockWait) }) }
            }
            var results = [Result<[ReportEffect], any Error>](repeating: .failure(StoreError.unavailable("no answer for a report write")), count: batch.count)
            for await (index, answer) in group { results[index] = answer }
            return results
        }
    }

    /// One agent's reports in a transaction of their own; a lone ack or start, the commonest
    /// report, is one atomic statement (`MoveSQL`), as `transition`. With `lockWait`, a row
    /// another transaction holds is waited for only that long.
    private func recordAlone(_ reports: AgentReports, lockWait: String? = nil) async throws -> [ReportEffect] {
        if lockWait == nil, reports.steps.count == 1, case .move(let state, let reason) = reports.steps[0].step {
            return [try await moveReported(commandId: reports.steps[0].commandId, to: state, reason: reason, agentId: reports.agentId, now: reports.now)]
        }
        return try await write { connection in
            if let lockWait { _ = try await connection.query("SET LOCAL lock_timeout = '\(unescaped: lockWait)'", logger: logger) }
            var run = try await PostgresReportRun.load(reports.steps, connection, logger: logger)
            let effects = reports.steps.map { run.apply($0.commandId, $0.step, agentId: reports.agentId, now: reports.now) }
            return try await run.flush(effects, connection, logger: logger)
        }
    }

    private func result<T>(_ body: () async throws -> T) async -> Result<T, any Error> {
        do { return .success(try await body()) } catch { return .failure(error) }
    }
}

extension PostgresReportRun.Step {
    /// The output bytes the step carries.
    var outputBytes: Int {
        switch self {
        case .move: return 0
        case .output(_, _, let data, _): return data.count
        case .finish(let outcome): return outcome.stdout.count + outcome.stderr.count
        }
    }
}
