import Foundation
import PostgresNIO
import RMMProtocol

/// Agents' reports, written in groups (`PostgresGroupWriter`): reports that arrive while the
/// report writers are busy share one transaction.
///
/// The shared transaction locks every command it names in id order (as any report run does), so
/// batches never deadlock each other. If it fails for a reason other than an unavailable
/// database (a row that cannot be read, say), each agent's reports are written again alone, so
/// only the one at fault sees the error.
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

    /// Writes every agent's reports of `batch` in one transaction and returns each one's effects
    /// (or error), in `batch`'s order.
    func commitReports(_ batch: [AgentReports]) async -> [Result<[ReportEffect], any Error>] {
        if batch.count == 1 { return [await result { try await self.recordAlone(batch[0]) }] }
        do {
            let effects = try await write { connection in
                var run = try await PostgresReportRun.load(batch.flatMap(\.steps), connection, logger: logger)
                var effects: [ReportEffect] = []
                for reports in batch {
                    effects += reports.steps.map { run.apply($0.commandId, $0.step, agentId: reports.agentId, now: reports.now) }
                }
                return try await run.flush(effects, connection, logger: logger)
            }
            var results: [Result<[ReportEffect], any Error>] = []
            var start = 0
            for reports in batch {
                let end = start + reports.steps.count
                guard end <= effects.count else { throw StoreError.corrupt("\(effects.count) effects for a batch of more reports") }
                results.append(.success(Array(effects[start..<end])))
                start = end
            }
            return results
        } catch StoreError.unavailable(let why) {
            // Nothing is known to be stored: every caller retries (its reports stay unacknowledged).
            return batch.map { _ in .failure(StoreError.unavailable(why)) }
        } catch {
            // Something in one agent's reports failed the shared transaction: each alone, so only
            // that one sees the error.
            var results: [Result<[ReportEffect], any Error>] = []
            for reports in batch { results.append(await result { try await self.recordAlone(reports) }) }
            return results
        }
    }

    /// One agent's reports in a transaction of their own; a lone ack or start, the commonest
    /// report, is one atomic statement (`MoveSQL`), as `transition`.
    private func recordAlone(_ reports: AgentReports) async throws -> [ReportEffect] {
        if reports.steps.count == 1, case .move(let state, let reason) = reports.steps[0].step {
            return [try await moveReported(commandId: reports.steps[0].commandId, to: state, reason: reason, agentId: reports.agentId, now: reports.now)]
        }
        return try await write { connection in
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
