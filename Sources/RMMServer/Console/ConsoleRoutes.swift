import Foundation
import Hummingbird
import NIOCore
import RMMAPI
import RMMProtocol
import RMMStore

/// The web console on the API's address at `/`: login and logout, the pages, and their static
/// files. Pages run as the session's API token through the same `OperatorContext` as the API, so
/// a console action is allowed exactly when the API would allow it (`OperatorAction`) and is
/// audited by token id the same way.
struct ConsoleRoutes: Sendable {
    let core: ServerCore
    let pages: ConsolePages
    /// Failed logins per address: the API's limiter, so a guesser cannot double its tries.
    let limiter: AddressLimiter
    /// The API port terminates TLS.
    let tls: Bool
    var policy = ConsoleSessionPolicy()
    /// Live streams per session.
    let slots = ConsoleStreamSlots()

    /// Adds the console's routes to `router`.
    func add(to router: Router<OperatorContext>) {
        let open = router.group()
            .add(middleware: ConsoleHeadersMiddleware())
            .add(middleware: ConsoleErrorMiddleware(pages: pages))
            .add(middleware: ConsoleOriginMiddleware())
        open.get("/login") { request, context in loginPage(request, context, error: nil, status: .ok) }
        open.post("/login") { request, context in try await login(request, context) }
        open.get("/static/:file") { request, context in try asset(request, context) }
        let signedIn = router.group()
            .add(middleware: ConsoleHeadersMiddleware())
            .add(middleware: ConsoleErrorMiddleware(pages: pages))
            .add(middleware: ConsoleOriginMiddleware())
            .add(middleware: ConsoleSessionMiddleware(store: core.store, policy: policy))
        signedIn.post("/logout") { request, context in try await logout(request, context) }
        signedIn.get("/") { request, context in try await fleet(request, context) }
        signedIn.get("/events/fleet") { request, context in try await FleetEvents(core: core, slots: slots).stream(request, context) }
        AgentPages(core: core, pages: pages, slots: slots).add(to: signedIn)
        AdminPages(core: core, pages: pages).add(to: signedIn)
        SitesPage(core: core, pages: pages).add(to: signedIn)
        TokenPages(core: core, pages: pages).add(to: signedIn)
    }

    /// How the browser reached this request.
    func transport(_ request: Request, _ context: OperatorContext) -> ConsoleTransport {
        let trusted = core.settings.trustedProxies
        let peer = context.peer?.ipBytes
        let peerTrusted = peer.map { trusted.trusts($0) } ?? false
        var client = peer
        if peerTrusted, let peer {
            let forwarded = request.headers.filter { $0.name.canonicalName == ForwardedClientMiddleware.header }.map(\.value)
            client = forwarded.isEmpty ? peer : trusted.forwardedClient(peer: peer, headers: forwarded) ?? peer
        }
        let proto = peerTrusted ? request.headers.first { $0.name.canonicalName == "x-forwarded-proto" }?.value : nil
        return ConsoleTransport.judge(tls: tls, peerTrusted: peerTrusted, forwardedProto: proto, client: client, local: context.local?.ipBytes)
    }

    func loginPage(_ request: Request, _ context: OperatorContext, error: String?, status: HTTPResponse.Status) -> Response {
        var values: [String: Any] = [:]
        if case .refused(let why) = transport(request, context) { values["refused"] = why }
        if let error { values["error"] = error }
        return pages.render("login", title: "Log in", operator: nil, values: values, status: status)
    }

    /// Checks the token as the API does (same cache, same failure limit) and starts a session.
    func login(_ request: Request, _ context: OperatorContext) async throws -> Response {
        let way = transport(request, context)
        if case .refused(let why) = way {
            return pages.render("login", title: "Log in", operator: nil, values: ["refused": why], status: .forbidden)
        }
        let clock = ContinuousClock.now
        if let block = limiter.block(for: context.remoteKey, now: clock) {
            return loginPage(request, context, error: "too many failed logins from \(block.address); retry in \(block.retryAfterSeconds) s",
                             status: .tooManyRequests)
        }
        // Before authentication: a login form is a token and little else.
        let form = try await ConsoleForm.read(request, limit: ConsoleForm.loginMaxBytes)
        let secret = (form["token"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        let store = core.store
        guard !secret.isEmpty, let token = try await core.tokens.token(hash: CommandService.sha256Hex(secret), fetch: { try await store.apiToken(hash: $0) }),
              OperatorRole(rawValue: token.role) != nil else {
            limiter.recordFailure(context.remoteKey, now: clock)
            return loginPage(request, context, error: "token not recognised or revoked", status: .unauthorized)
        }
        let now = Date()
        // Logins sweep the expired sessions (an indexed delete): no timer is needed for a table this small.
        try await store.deleteExpiredConsoleSessions(now: now)
        let sessionSecret = AccessTokenRules.consoleSecret()
        let session = policy.newSession(tokenId: token.id, csrfSecret: AccessTokenRules.consoleSecret(), now: now)
        try await store.createConsoleSession(session, hash: CommandService.sha256Hex(sessionSecret))
        let actor = AuditActor(name: token.name, tokenId: token.id, role: token.role, remote: context.remote)
        try await store.appendAudit(actor.entry("console.login", targets: [session.id], detail: "session until \(session.expiresAt)", at: now))
        let cookie = ConsoleCookie.set(sessionSecret, maxAge: policy.maxAge(session, now: now), secure: way == .secure)
        return ConsolePages.redirect("/", headers: [.setCookie: cookie])
    }

    func logout(_ request: Request, _ context: OperatorContext) async throws -> Response {
        _ = try await ConsoleForm.checked(request, context)
        if let session = context.consoleSession {
            try await core.store.deleteConsoleSession(id: session.id)
            try await core.audit(context, "console.logout", targets: [session.id], detail: "")
        }
        return ConsolePages.redirect("/login", headers: [.setCookie: ConsoleCookie.clear(secure: transport(request, context) == .secure)])
    }

    /// A static file: cached for a year (pages link it by content hash), revalidated by `ETag`.
    func asset(_ request: Request, _ context: OperatorContext) throws -> Response {
        guard let asset = pages.assets.asset(named: try context.parameters.require("file")) else {
            throw RequestError(404, "no such file")
        }
        let etag = "\"\(asset.hash)\""
        var headers: HTTPFields = [.contentType: asset.contentType, .cacheControl: "public, max-age=31536000, immutable", .eTag: etag]
        if request.headers[.ifNoneMatch] == etag {
            headers[.contentType] = nil
            return Response(status: .notModified, headers: headers)
        }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: asset.body)))
    }

    /// The fleet page: one page of agents, filtered, with live updates from `/events/fleet`.
    func fleet(_ request: Request, _ context: OperatorContext) async throws -> Response {
        let query = request.uri.queryParameters
        let filter = FleetFilter { query.get($0) }
        let cursor = FleetPage.cursor { query.get($0) }
        let now = Date()
        let page = try await FleetPage.load(core: core, filter: filter, after: cursor, now: now)
        let summary = try await core.fleetSummary(now: now)
        var values: [String: Any] = [
            "rows": page.views.map { FleetPage.row($0, now: now) },
            "filter": ["q": filter.q],
            "liveQuery": FleetPage.liveQuery(filter: filter, cursor: cursor),
            "statusOptions": FleetFilter.options(FleetFilter.statuses.map(\.rawValue), selected: filter.status?.rawValue),
            "verdictOptions": FleetFilter.options(LinkVerdict.allCases.map(\.rawValue), selected: filter.verdict?.rawValue),
            "modeOptions": FleetFilter.options(DownlinkMode.allCases.map(\.rawValue), selected: filter.mode?.rawValue),
            "summary": FleetPage.summaryText(summary, shown: page.views.count),
        ]
        if let next = page.next { values["next"] = FleetPage.nextLink(next, filter: filter) }
        return pages.render("fleet", title: "Fleet", operator: context.consoleOperator, values: values)
    }
}
