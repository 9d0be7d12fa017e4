import Foundation
import RMMAPI
import Synchronization

/// The fleet's counts as last computed, shared by every live console stream of this node:
/// computing them visits every session the node holds, which forty streams must not each do at
/// 50,000 agents. `GET /api/v1/fleet`, a metrics scrape and a page render compute fresh counts.
final class FleetSummaryCache: Sendable {
    private let last = Mutex<(summary: FleetSummaryView, at: Date)?>(nil)

    /// The cached counts if computed less than `maxAge` seconds before `now`.
    func fresh(now: Date, maxAge: TimeInterval) -> FleetSummaryView? {
        last.withLock { last in
            guard let last, now.timeIntervalSince(last.at) >= 0, now.timeIntervalSince(last.at) < maxAge else { return nil }
            return last.summary
        }
    }

    /// Keeps `summary`, computed at `at`.
    func store(_ summary: FleetSummaryView, at: Date) {
        last.withLock { $0 = (summary, at) }
    }
}
