import Foundation
import Hummingbird
import RMMAPI
import RMMStore

/// The sites page: agents grouped by the network they connect from (`SiteGrouping`), with the
/// downlink modes and verdicts they share. Addresses are known for agents connected to this node
/// (a session holds its connection's address), so on a cluster each node shows its own agents' sites.
struct SitesPage: Sendable {
    let core: ServerCore
    let pages: ConsolePages

    /// Agents read at most (in store pages of `FleetPage.storePage`).
    static let scanLimit = 10_000

    func add(to routes: RouterGroup<OperatorContext>) {
        routes.get("/sites") { _, context in try await sites(context) }
    }

    func sites(_ context: OperatorContext) async throws -> Response {
        let now = Date()
        var members: [SiteGrouping.Member] = []
        var cursor: AgentPageCursor? = nil
        var scanned = 0
        while scanned < Self.scanLimit {
            let agents = try await core.store.agentPage(after: cursor, limit: FleetPage.storePage)
            scanned += agents.count
            for view in try await AgentViews.views(of: agents, core: core, now: now) {
                members.append(SiteGrouping.Member(id: view.id, name: view.name, remote: view.remoteAddress, verdict: view.verdict?.verdict.rawValue,
                                                   mode: view.downlinkMode?.rawValue, modeReason: view.downlinkReason))
            }
            guard agents.count == FleetPage.storePage, let last = agents.last else { break }
            cursor = .init(after: last)
        }
        let sites = SiteGrouping.sites(members).map { site -> [String: Any] in
            ["network": site.network, "sentence": site.sentence, "count": String(site.members.count),
             "agents": site.members.prefix(50).map { ["id": $0.id, "name": $0.name] }, "more": site.members.count > 50 ? "and \(site.members.count - 50) more" : ""]
        }
        let unplaced = members.filter { $0.remote == nil }.count
        return pages.render("sites", title: "Sites", operator: context.consoleOperator,
                            values: ["sites": sites, "note": "\(unplaced) agents are not connected to this node, so their address is not known here."])
    }
}
