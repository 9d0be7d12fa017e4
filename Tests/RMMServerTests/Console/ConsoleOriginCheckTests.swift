import Testing

@testable import RMMServer

/// The cross-site check on console forms: browsers say where a form comes from; other clients say nothing.
@Suite("Console origin check")
struct ConsoleOriginCheckTests {
    @Test("Sec-Fetch-Site decides when present: same-origin and a typed URL pass, another site does not")
    func fetchSite() {
        #expect(ConsoleOriginCheck.allows(secFetchSite: "same-origin", origin: "https://evil.example", host: "rmm.example.com"))
        #expect(ConsoleOriginCheck.allows(secFetchSite: "none", origin: nil, host: "rmm.example.com"))
        #expect(!ConsoleOriginCheck.allows(secFetchSite: "cross-site", origin: "https://rmm.example.com", host: "rmm.example.com"))
        #expect(!ConsoleOriginCheck.allows(secFetchSite: "same-site", origin: nil, host: "rmm.example.com"))
    }

    @Test("without it, an Origin must name the request's host (the scheme's default port may be left out)")
    func origin() {
        #expect(ConsoleOriginCheck.allows(secFetchSite: nil, origin: nil, host: "rmm.example.com"), "not a browser")
        #expect(ConsoleOriginCheck.allows(secFetchSite: nil, origin: "https://rmm.example.com", host: "rmm.example.com"))
        #expect(ConsoleOriginCheck.allows(secFetchSite: nil, origin: "https://RMM.example.com", host: "rmm.example.com:443"))
        #expect(ConsoleOriginCheck.allows(secFetchSite: nil, origin: "http://127.0.0.1:7080", host: "127.0.0.1:7080"))
        #expect(!ConsoleOriginCheck.allows(secFetchSite: nil, origin: "http://127.0.0.1:9999", host: "127.0.0.1:7080"))
        #expect(!ConsoleOriginCheck.allows(secFetchSite: nil, origin: "https://evil.example", host: "rmm.example.com"))
        #expect(!ConsoleOriginCheck.allows(secFetchSite: nil, origin: "null", host: "rmm.example.com"))
        #expect(!ConsoleOriginCheck.allows(secFetchSite: nil, origin: "https://rmm.example.com/path", host: "rmm.example.com"))
        #expect(!ConsoleOriginCheck.allows(secFetchSite: nil, origin: "https://rmm.example.com", host: nil))
    }

    @Test("a live stream's ids are taken only in an agent id's alphabet, so none can write a line of its own into the stream")
    func streamIds() {
        #expect(FleetEvents.isAgentId("ag_a86ca51a9f141a2e"))
        #expect(!FleetEvents.isAgentId("ag_1\nevent: x"))
        #expect(!FleetEvents.isAgentId(""))
        #expect(!FleetEvents.isAgentId(Substring(String(repeating: "a", count: 65))))
    }
}
