import Foundation
import RMMAPI
import RMMProtocol
import RMMStore

/// One page of the fleet table: agents in name order from a keyset cursor, filtered, at most
/// `pageSize` rows, reading at most `scanLimit` agents from the store whatever the fleet's size
/// (a filter that matches little gives a short page and a link that goes on from where it stopped).
enum FleetPage {
    static let pageSize = 100
    static let scanLimit = 2000
    /// Agents read per store query (the views of a store page cost a fixed number of queries).
    static let storePage = 250

    struct Result: Sendable {
        var views: [AgentView]
        /// Where the next page starts, or nil at the fleet's end.
        var next: AgentPageCursor?
    }

    /// Reads one page after `cursor`. A name search is a prefix (case-sensitive, the list's byte
    /// order): the read starts at the first name at or after it and ends at the first that does not
    /// start with it, so a search costs what it finds, whatever the fleet's size.
    static func load(core: ServerCore, filter: FleetFilter, after cursor: AgentPageCursor?, now: Date) async throws -> Result {
        var shown: [AgentView] = []
        var cursor = cursor ?? (filter.q.isEmpty ? nil : AgentPageCursor(name: filter.q, id: ""))
        var scanned = 0
        // Without a filter on the views every agent read is a row: read no more than a page holds
        // (the live streams read the page again every 2 s, and decoding agents is most of it).
        let readSize = filter.status == nil && filter.verdict == nil && filter.mode == nil ? pageSize : storePage
        while scanned < scanLimit {
            let page = try await core.store.agentPage(after: cursor, limit: readSize)
            scanned += page.count
            let agents = filter.q.isEmpty ? page : Array(page.prefix { $0.name.hasPrefix(filter.q) })
            for (index, view) in try await AgentViews.views(of: agents, core: core, now: now).enumerated() where filter.matches(view) {
                shown.append(view)
                if shown.count == pageSize {
                    return Result(views: shown, next: AgentPageCursor(after: agents[index]))
                }
            }
            guard page.count == readSize, agents.count == page.count, let last = page.last else { return Result(views: shown, next: nil) }
            cursor = AgentPageCursor(after: last)
        }
        return Result(views: shown, next: cursor)
    }

    /// A row's displayed values (all text: the template escapes them, the script sets them as text).
    static func row(_ view: AgentView, now: Date) -> FleetRow {
        FleetRow(
            id: view.id, name: view.name, status: view.status.rawValue,
            verdict: view.verdict?.verdict.rawValue ?? "–", mode: view.downlinkMode?.rawValue ?? "–",
            rtt: view.lastPongRttMs.map { String(format: "%.0f ms", $0) } ?? "–",
            lastSeen: view.lastSeenAt.map { ago($0, now: now) } ?? "never",
            os: view.os, version: view.version,
            cpu: view.metrics?.cpuPercent.map { String(format: "%.0f%%", $0) } ?? "–",
            memory: percent(view.metrics?.memoryUsedBytes, of: view.metrics?.memoryTotalBytes),
            disk: percent(view.metrics?.diskUsedBytes, of: view.metrics?.diskTotalBytes)
        )
    }

    /// "12 s ago", "5 min ago", "3 h ago", "2 d ago".
    static func ago(_ date: Date, now: Date) -> String {
        let seconds = max(0, Int(now.timeIntervalSince(date)))
        switch seconds {
        case ..<60: return "\(seconds) s ago"
        case ..<3600: return "\(seconds / 60) min ago"
        case ..<86400: return "\(seconds / 3600) h ago"
        default: return "\(seconds / 86400) d ago"
        }
    }

    static func percent(_ used: Int64?, of total: Int64?) -> String {
        guard let used, let total, total > 0 else { return "–" }
        return String(format: "%.0f%%", Double(used) * 100 / Double(total))
    }

    /// The line above the table: the fleet's counts and how many rows this page shows.
    static func summaryText(_ summary: FleetSummaryView, shown: Int) -> String {
        "\(summary.enrolled) enrolled: \(summary.online) online, \(summary.degraded) degraded, \(summary.offline) offline, \(summary.revoked) revoked. "
            + "Showing \(shown) on this page."
    }

    /// Where a page starts, from its query (`after_name` and `after_id`), or nil for the first page.
    static func cursor(_ query: (String) -> String?) -> AgentPageCursor? {
        query("after_name").flatMap { name in query("after_id").map { AgentPageCursor(name: name, id: $0) } }
    }

    /// The query of the live stream for the page that starts at `cursor` with `filter`.
    static func liveQuery(filter: FleetFilter, cursor: AgentPageCursor?) -> String {
        var components = URLComponents()
        components.queryItems = (filter.queryItems + (cursor.map { [("after_name", $0.name), ("after_id", $0.id)] } ?? []))
            .map { URLQueryItem(name: $0.0, value: $0.1) }
        return components.percentEncodedQuery ?? ""
    }

    /// The link to the page after `next`, keeping the filter.
    static func nextLink(_ next: AgentPageCursor, filter: FleetFilter) -> String {
        var components = URLComponents()
        components.path = "/"
        components.queryItems = (filter.queryItems + [("after_name", next.name), ("after_id", next.id)]).map { URLQueryItem(name: $0.0, value: $0.1) }
        return components.string ?? "/"
    }
}
