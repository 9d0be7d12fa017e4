import Foundation
import RMMAPI
import RMMProtocol

/// The fleet page's search and filters, from its query string: a name prefix (case-sensitive,
/// so that the store's name order finds it: `FleetPage.load`),
/// a status, a verdict, a downlink mode. A value the page does not know is ignored.
struct FleetFilter: Equatable, Sendable {
    var q = ""
    var status: AgentStatus?
    var verdict: LinkVerdict?
    var mode: DownlinkMode?

    static let statuses: [AgentStatus] = [.online, .degraded, .offline, .revoked]

    init(q: String = "", status: AgentStatus? = nil, verdict: LinkVerdict? = nil, mode: DownlinkMode? = nil) {
        self.q = q
        self.status = status
        self.verdict = verdict
        self.mode = mode
    }

    init(query: (String) -> String?) {
        q = String((query("q") ?? "").trimmingCharacters(in: .whitespaces).prefix(200))
        status = query("status").flatMap(AgentStatus.init(rawValue:))
        verdict = query("verdict").flatMap(LinkVerdict.init(rawValue:))
        mode = query("mode").flatMap(DownlinkMode.init(rawValue:))
    }

    var isEmpty: Bool { q.isEmpty && status == nil && verdict == nil && mode == nil }

    /// Whether `view` is shown. The verdict is the newest of the agent's history.
    func matches(_ view: AgentView) -> Bool {
        if let status, view.status != status { return false }
        if let verdict, view.verdict?.verdict != verdict { return false }
        if let mode, view.downlinkMode != mode { return false }
        if !q.isEmpty, !view.name.hasPrefix(q) { return false }
        return true
    }

    /// The filter's query items (for the next page's link), without empty ones.
    var queryItems: [(String, String)] {
        var items: [(String, String)] = []
        if !q.isEmpty { items.append(("q", q)) }
        if let status { items.append(("status", status.rawValue)) }
        if let verdict { items.append(("verdict", verdict.rawValue)) }
        if let mode { items.append(("mode", mode.rawValue)) }
        return items
    }

    /// Select options with the current choice marked, "any" first.
    static func options(_ values: [String], selected: String?) -> [[String: Any]] {
        [["value": "", "label": "any", "selected": selected == nil]]
            + values.map { ["value": $0, "label": $0, "selected": $0 == selected] }
    }
}
