import Foundation
import RMMAPI
import RMMProtocol
import RMMStore
import Testing

@testable import RMMServer

/// The console's pure rules: session lifetimes, the login transport, CSRF, forms, filters, roles.
@Suite("Console rules")
struct ConsoleRulesTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("a session lasts 12 h at most and 30 min idle; a request moves the idle expiry at most once a minute")
    func sessionPolicy() {
        let policy = ConsoleSessionPolicy()
        let session = policy.newSession(tokenId: "tk_1", csrfSecret: "c", now: t0)
        #expect(session.expiresAt == t0.addingTimeInterval(43_200) && session.idleExpiresAt == t0.addingTimeInterval(1800))
        #expect(session.id.hasPrefix("cs_") && policy.maxAge(session, now: t0) == 43_200)
        #expect(policy.touch(session, now: t0.addingTimeInterval(30)) == nil, "moved less than a minute ago")
        #expect(policy.touch(session, now: t0.addingTimeInterval(60)) == t0.addingTimeInterval(1860))
        var late = session
        late.idleExpiresAt = session.expiresAt
        #expect(policy.touch(late, now: t0.addingTimeInterval(43_000)) == nil, "never past the absolute expiry")
        #expect(policy.maxAge(session, now: t0.addingTimeInterval(50_000)) == 0)
    }

    @Test("the cookie is HttpOnly, SameSite=Strict, Path=/, bounded, and Secure only over https")
    func cookie() {
        #expect(ConsoleCookie.set("s", maxAge: 60, secure: false) == "gururmm_session=s; Path=/; Max-Age=60; HttpOnly; SameSite=Strict")
        #expect(ConsoleCookie.set("s", maxAge: 60, secure: true).hasSuffix("; SameSite=Strict; Secure"))
        #expect(ConsoleCookie.clear(secure: false).contains("Max-Age=0"))
    }

    @Test("login transport: TLS or a trusted proxy's https is secure; plain http is allowed only on loopback")
    func transport() {
        let loopback: [UInt8] = [127, 0, 0, 1], lan: [UInt8] = [192, 168, 1, 5], remote: [UInt8] = [203, 0, 113, 9]
        let v6Loopback = [UInt8](repeating: 0, count: 15) + [1]
        #expect(ConsoleTransport.judge(tls: true, peerTrusted: false, forwardedProto: nil, client: remote, local: lan) == .secure)
        #expect(ConsoleTransport.judge(tls: false, peerTrusted: false, forwardedProto: nil, client: loopback, local: loopback) == .loopback)
        #expect(ConsoleTransport.judge(tls: false, peerTrusted: false, forwardedProto: nil, client: v6Loopback, local: v6Loopback) == .loopback)
        guard case .refused(let why) = ConsoleTransport.judge(tls: false, peerTrusted: false, forwardedProto: nil, client: remote, local: lan) else {
            Issue.record("plain http on a LAN address must be refused")
            return
        }
        #expect(why.contains("--tls-cert") && why.contains("--trusted-proxy"))
        // An untrusted peer's X-Forwarded-Proto is ignored by the caller; a trusted proxy's is believed.
        #expect(ConsoleTransport.judge(tls: false, peerTrusted: true, forwardedProto: "HTTPS", client: remote, local: loopback) == .secure)
        #expect(ConsoleTransport.judge(tls: false, peerTrusted: true, forwardedProto: "http", client: loopback, local: loopback) == .loopback)
        if case .refused = ConsoleTransport.judge(tls: false, peerTrusted: true, forwardedProto: "http", client: remote, local: loopback) {} else {
            Issue.record("a proxy's plain-http remote client must be refused")
        }
        #expect(ConsoleTransport.isLoopback([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 2]))
        #expect(!ConsoleTransport.isLoopback(lan))
    }

    @Test("CSRF tokens match only exactly; a missing or empty one never does")
    func csrf() {
        #expect(ConsoleCSRF.matches(expected: "abc123", given: "abc123"))
        #expect(!ConsoleCSRF.matches(expected: "abc123", given: "abc124"))
        #expect(!ConsoleCSRF.matches(expected: "abc123", given: "abc12"))
        #expect(!ConsoleCSRF.matches(expected: "abc123", given: nil))
        #expect(!ConsoleCSRF.matches(expected: "", given: ""))
    }

    @Test("forms decode percent-escapes and plus signs; a repeated field keeps its first value")
    func forms() {
        let form = ConsoleForm(parsing: "token=grt_a%2Bb&csrf=x&note=two+words&csrf=y&empty")
        #expect(form["token"] == "grt_a+b" && form["csrf"] == "x" && form["note"] == "two words" && form["empty"] == "")
    }

    @Test("the fleet filter reads a name prefix, status, verdict and mode; unknown values are ignored")
    func fleetFilter() {
        let filter = FleetFilter { ["q": "WEB", "status": "online", "mode": "nonsense"][$0] }
        #expect(filter == FleetFilter(q: "WEB", status: .online))
        #expect(filter.queryItems.map(\.0) == ["q", "status"])
    }

    @Test("one authorization table: viewers take no action, operators run and cancel, admins manage tokens")
    func actions() {
        #expect(OperatorAction.allCases.allSatisfy { !$0.allows(.viewer) && !$0.allows(nil) && $0.allows(.admin) })
        #expect(OperatorAction.runCommands.allows(.operator) && OperatorAction.cancelCommands.allows(.operator))
        #expect(!OperatorAction.manageAPITokens.allows(.operator) && !OperatorAction.revokeAgents.allows(.operator))
    }
}
