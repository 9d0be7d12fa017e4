import Foundation
import Hummingbird
import RMMAPI
import RMMStore

/// The sites page: agents grouped by the network they connect from (`SiteGrouping`), with the
/// downlink modes and verdicts they share. The address is the one the store recorded at the
/// agent's latest handshake (on whichever node), so every node of a cluster shows the same sites;
/// verdicts and modes come from the fleet page's views. It reads at most `scanLimit` agents. An
/// admin names sites by ranges here (`NamedSites`, one store setting), which win over the /24-/64.
struct SitesPage: Sendable {
    let core: ServerCore
    let pages: ConsolePages

    /// Agents read at most (in store pages of `FleetPage.storePage`).
    static let scanLimit = 10_000

    func add(to routes: RouterGroup<OperatorContext>) {
        routes.get("/sites") { _, context in try await sites(context) }
        routes.post("/sites/named") { request, context in try await saveNamed(request, context) }
    }

    /// The named sites in the store; none when the setting is missing (or unreadable: the page still shows the /24-/64 sites).
    func named() async throws -> NamedSites {
        guard let json = try await core.store.setting(NamedSites.settingKey) else { return NamedSites() }
        return (try? JSONDecoder().decode(NamedSites.self, from: Data(json.utf8))) ?? NamedSites()
    }

    /// Saves the admin's named sites after parsing them strictly; a refusal shows the page again
    /// with the reason and the text as typed, and saves nothing.
    func saveNamed(_ request: Request, _ context: OperatorContext) async throws -> Response {
        let form = try await ConsoleForm.checked(request, context)
        try context.require(.nameSites)
        let text = form["ranges"] ?? ""
        let sites: NamedSites
        do { sites = try NamedSites(parsing: text) } catch {
            // Text past the limit is not sent back: the page would carry what it refused.
            let draft = text.utf8.count > NamedSites.maxTextBytes ? "" : text
            return try await self.sites(context, error: error.message, draft: draft, status: .badRequest)
        }
        let json = String(decoding: try JSONEncoder().encode(sites), as: UTF8.self)
        let detail = sites.sites.isEmpty ? "no named sites" : sites.sites.map { "\($0.name): \($0.ranges.joined(separator: ", "))" }.joined(separator: "; ")
        let audit = AuditActor(context).entry("console.sites.name", targets: sites.sites.map(\.name), detail: String(detail.prefix(2000)), at: Date())
        try await core.store.saveSetting(NamedSites.settingKey, value: json, audit: audit)
        return ConsolePages.redirect("/sites")
    }

    func sites(_ context: OperatorContext, error: String? = nil, draft: String? = nil, status: HTTPResponse.Status = .ok) async throws -> Response {
        let named = try await named()
        let lookup = named.lookup
        let now = Date()
        var members: [SiteGrouping.Member] = []
        var cursor: AgentPageCursor? = nil
        var scanned = 0
        while scanned < Self.scanLimit {
            let agents = try await core.store.agentPage(after: cursor, limit: FleetPage.storePage)
            scanned += agents.count
            for (agent, view) in zip(agents, try await AgentViews.views(of: agents, core: core, now: now)) where agent.revokedAt == nil {
                members.append(SiteGrouping.Member(id: view.id, name: view.name, remote: view.remoteAddress ?? agent.remoteAddress, verdict: view.verdict?.verdict.rawValue,
                                                   mode: view.downlinkMode?.rawValue, modeReason: view.downlinkReason))
            }
            guard agents.count == FleetPage.storePage, let last = agents.last else { break }
            cursor = .init(after: last)
        }
        let sites = SiteGrouping.sites(members, named: lookup).map { site -> [String: Any] in
            ["network": site.network, "named": site.named, "sentence": site.sentence, "count": String(site.members.count),
             "agents": site.members.prefix(50).map { ["id": $0.id, "name": $0.name] }, "more": site.members.count > 50 ? "and \(site.members.count - 50) more" : ""]
        }
        let unplaced = members.filter { $0.remote == nil }.count
        var note = "\(unplaced) agent\(unplaced == 1 ? " has" : "s have") never connected, so no address is known."
        if scanned >= Self.scanLimit { note += " Only the first \(Self.scanLimit) agents by name are grouped." }
        var values: [String: Any] = ["sites": sites, "note": note]
        if OperatorAction.nameSites.allows(context.operatorRole) {
            values["edit"] = ["ranges": draft ?? named.text, "hasError": error != nil, "error": error ?? "", "csrf": context.consoleSession?.csrfSecret ?? ""] as [String: Any]
        }
        return pages.render("sites", title: "Sites", operator: context.consoleOperator, values: values, status: status)
    }
}
