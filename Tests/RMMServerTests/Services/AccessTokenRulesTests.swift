import RMMAPI
import Testing

@testable import RMMServer

/// The rules of token requests: the API's 400 messages, the defaults, and the secrets' shape.
@Suite struct AccessTokenRulesTests {
    private func refusal(_ body: () throws -> Void) -> RequestError? {
        do {
            try body()
            return nil
        } catch let error as RequestError {
            return error
        } catch {
            return RequestError(500, "unexpected \(error)")
        }
    }

    @Test("an enrollment token request without fields gets one use and a day")
    func enrollmentDefaults() throws {
        let rules = try AccessTokenRules.enrollment(EnrollmentTokenRequest(expiresSeconds: nil, uses: nil))
        #expect(rules.uses == 1)
        #expect(rules.expiresSeconds == 86_400)
    }

    @Test("uses and expires_seconds outside their ranges are 400 with the documented messages")
    func enrollmentBounds() throws {
        for uses in [0, -1, 100_001] {
            let error = refusal { _ = try AccessTokenRules.enrollment(EnrollmentTokenRequest(expiresSeconds: nil, uses: uses)) }
            #expect(error?.status == 400)
            #expect(error?.message == "uses must be 1...100000")
        }
        for expires in [0, -5, 31_536_001, Double.nan] {
            let error = refusal { _ = try AccessTokenRules.enrollment(EnrollmentTokenRequest(expiresSeconds: expires, uses: 3)) }
            #expect(error?.status == 400)
            #expect(error?.message == "expires_seconds must be between 0 and 31536000")
        }
        let edges = try AccessTokenRules.enrollment(EnrollmentTokenRequest(expiresSeconds: 31_536_000, uses: 100_000))
        #expect(edges.uses == 100_000 && edges.expiresSeconds == 31_536_000)
    }

    @Test("an API token's name is trimmed, 1...64 Unicode scalars, without NUL; its role must be known")
    func apiTokenRules() throws {
        let ok = try AccessTokenRules.apiToken(APITokenRequest(name: "  ci bot ", role: "operator"))
        #expect(ok.name == "ci bot")
        #expect(ok.role == .operator)
        #expect(try AccessTokenRules.apiToken(APITokenRequest(name: String(repeating: "é", count: 64), role: "viewer")).name.count == 64)
        for name in ["", "   ", String(repeating: "x", count: 65)] {
            let error = refusal { _ = try AccessTokenRules.apiToken(APITokenRequest(name: name, role: "admin")) }
            #expect(error?.status == 400)
            #expect(error?.message == "name must be 1...64 characters")
        }
        #expect(refusal { _ = try AccessTokenRules.apiToken(APITokenRequest(name: "a\u{0}b", role: "admin")) }?.status == 400)
        let role = refusal { _ = try AccessTokenRules.apiToken(APITokenRequest(name: "bot", role: "root")) }
        #expect(role?.status == 400)
        #expect(role?.message == "role must be one of \(OperatorRole.allCases.map(\.rawValue).joined(separator: ", "))")
    }

    @Test("secrets carry their prefix and fresh random hex each time")
    func secrets() {
        let enrollment = AccessTokenRules.enrollmentSecret()
        let api = AccessTokenRules.apiSecret()
        #expect(enrollment.hasPrefix("gre_") && enrollment.count == 4 + 32)
        #expect(api.hasPrefix("grt_") && api.count == 4 + 48)
        let hex = api.dropFirst(4).allSatisfy { $0.isHexDigit }
        #expect(hex)
        #expect(AccessTokenRules.enrollmentSecret() != enrollment)
        #expect(AccessTokenRules.apiSecret() != api)
    }
}
