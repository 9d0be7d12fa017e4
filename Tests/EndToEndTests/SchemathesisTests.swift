import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import RMMAPI
import RMMProtocol
import RMMServer
import RMMTestSupport
import Testing

extension EndToEnd {
    /// openapi.yaml is the exact contract: schemathesis, a schema-driven fuzzer nobody here wrote,
    /// runs every check it has against a real server once per role, with a fixed seed and budget,
    /// and must find nothing. The pinned version comes from Tests/Tools/schemathesis-requirements.txt
    /// (`.ci/run` installs it into `.build-tools/schemathesis`); without it the test is skipped,
    /// unless GURURMM_REQUIRE_TOOLS=1.
    @Suite("End to end: the OpenAPI contract (schemathesis)", .serialized)
    struct SchemathesisTests {
        @Test("schemathesis finds nothing against a running server, as viewer, operator and admin")
        func contractHolds() async throws {
            guard let fuzzer = try Schemathesis.locate() else { return }
            let server = try await E2EServer.start(["--max-failed-auth-per-minute", "100000"])
            var simulator: ManagedProcess?
            do {
                let setup = try await ContractFixture.make(server)
                simulator = setup.simulator
                for role in ["viewer", "operator", "admin"] {
                    let token = try #require(setup.tokens[role])
                    let run = try await fuzzer.run(against: server, token: token, environment: setup.environment,
                                                   log: server.directory + "/schemathesis-\(role).log")
                    #expect(run.code == 0, "schemathesis found problems as \(role):\n\(run.report)")
                }
            } catch {
                Issue.record("\(error)\n---- server log (tail) ----\n\(server.process.logContents().suffix(6000))")
            }
            _ = try? await simulator?.terminateAndWait(grace: .seconds(5))
            await server.stop()
        }

        @Test("an undeclared method on a known path is 405 with Allow; unknown paths stay 404")
        func methodNotAllowed() async throws {
            let server = try await E2EServer.start()
            do {
                let api = server.api
                #expect(try await api.raw("TRACE", "/api/v1/agents").0 == 405)
                let (deleteStatus, body) = try await api.raw("DELETE", "/api/v1/commands")
                #expect(deleteStatus == 405)
                #expect(String(decoding: body, as: UTF8.self).contains("GET, POST"))
                let (patchStatus, allow) = try await api.allowHeader("PATCH", "/api/v1/config")
                #expect(patchStatus == 405 && allow == "GET, PUT")
                #expect(try await api.raw("GET", "/api/v1/nothing").0 == 404)
                #expect(try await api.raw("GET", "/api/v1/agents/nobody").0 == 404, "a handler's own 404 is kept")
            } catch {
                Issue.record("\(error)")
            }
            await server.stop()
        }

        @Test("bodies and names are held to what openapi.yaml states")
        func statedLimits() async throws {
            try await withFleet(agents: ["contract"]) { server, _ in
                let api = server.api
                // diagnose took any body and ignored it; the document says a ReasonRequest.
                let diagnose = try await api.raw("POST", "/api/v1/agents/contract/diagnose", body: Data(#"{"reason": true}"#.utf8))
                #expect(diagnose.0 == 400)
                // 64 grapheme clusters but 128 Unicode scalars: over maxLength 64.
                let long = String(repeating: "e\u{301}", count: 64)
                let name = try APICoding.encoder().encode(APITokenRequest(name: long, role: "viewer"))
                #expect(try await api.raw("POST", "/api/v1/tokens", body: name).0 == 400)
                // The version sent is replaced, yet must be one a config can have.
                var config: AgentConfig = try await api.call("GET", "/api/v1/config")
                config.version = 0
                #expect(try await api.raw("PUT", "/api/v1/config", body: try APICoding.encoder().encode(config)).0 == 400)
            }
        }
    }
}

extension TestAPI {
    /// The status and `Allow` header of one request.
    func allowHeader(_ method: String, _ path: String) async throws -> (Int, String?) {
        guard let url = URL(string: base + path) else { throw Failure(status: 0, body: "bad url \(path)") }
        var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: 30)
        request.httpMethod = method
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        let (_, response) = try await URLSession.shared.data(for: request)
        let http = response as? HTTPURLResponse
        return (http?.statusCode ?? 0, http?.value(forHTTPHeaderField: "Allow"))
    }
}

/// The pinned schemathesis in the repository's virtual environment.
struct Schemathesis {
    let executable: String
    let root: URL

    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The executable, or nil (test skipped) when it is not installed and tools are not required.
    static func locate() throws -> Schemathesis? {
        let root = repositoryRoot
        let environment = ProcessInfo.processInfo.environment
        let path = environment["GURURMM_SCHEMATHESIS"] ?? root.appendingPathComponent(".build-tools/schemathesis/bin/st").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            let why = "schemathesis is not installed at \(path); install the pinned version with "
                + "`python3 -m venv .build-tools/schemathesis && .build-tools/schemathesis/bin/pip install -r Tests/Tools/schemathesis-requirements.txt`"
            if environment["GURURMM_REQUIRE_TOOLS"] == "1" { throw E2EError("GURURMM_REQUIRE_TOOLS=1: " + why) }
            #if compiler(>=6.3)
            try Test.cancel(Comment(rawValue: why))
            #else
            print("SKIPPED (schemathesis contract): \(why)")
            return nil
            #endif
        }
        return Schemathesis(executable: path, root: root)
    }

    /// The version the requirements file pins.
    func pinnedVersion() throws -> String {
        let requirements = try String(contentsOf: root.appendingPathComponent("Tests/Tools/schemathesis-requirements.txt"), encoding: .utf8)
        let line = requirements.split(separator: "\n").first { $0.hasPrefix("schemathesis==") }
        return try #require(line.map { String($0.dropFirst("schemathesis==".count)) }, "no schemathesis== line in the requirements file")
    }

    /// One run with every check, the fixed seed and budget, as the holder of `token`; returns the
    /// exit code and the report (the log's tail).
    func run(against server: E2EServer, token: String, environment: [String: String], log: String) async throws -> (code: Int32, report: String) {
        let version = try ManagedProcess.start(executable, arguments: ["--version"], logPath: log + ".version")
        _ = try await version.waitForExit(timeout: .seconds(60))
        let pinned = try pinnedVersion()
        guard version.logContents().contains("version \(pinned)") else {
            throw E2EError("schemathesis at \(executable) is not the pinned \(pinned): \(version.logContents())")
        }
        let tools = root.appendingPathComponent("Tests/Tools")
        let process = try ManagedProcess.start(executable, arguments: [
            "--config-file", tools.appendingPathComponent("schemathesis.toml").path,
            "run", root.appendingPathComponent("openapi.yaml").path,
            "--url", "http://127.0.0.1:\(server.apiPort)",
            "--checks", "all",
            "--seed", "20261204",
            "--max-examples", "15",
            "--max-time", "40",
            "--request-timeout", "40",
            "--header", "Authorization: Bearer \(token)",
            "--no-color",
        ], environment: environment.merging(["SCHEMATHESIS_HOOKS": tools.appendingPathComponent("schemathesis_hooks.py").path]) { _, new in new },
           logPath: log)
        let code = try await process.waitForExit(timeout: .seconds(240))
        return (code, String(process.logContents().suffix(20_000)))
    }
}

/// What a contract run needs on the server: a token per role, agents online (the fleet simulator,
/// which answers commands without running them: the fuzzer's command lines never reach a shell), a
/// finished batch, and the ids the hooks use.
struct ContractFixture {
    var tokens: [String: String] = [:]
    var environment: [String: String] = [:]
    var simulator: ManagedProcess

    static func make(_ server: E2EServer) async throws -> ContractFixture {
        let api = server.api
        var tokens: [String: String] = [:]
        for role in ["viewer", "operator", "admin"] {
            let view: APITokenView = try await api.call("POST", "/api/v1/tokens", body: APITokenRequest(name: "contract-\(role)", role: role))
            let secret: String = try #require(view.token)
            tokens[role] = secret
        }
        let spare: APITokenView = try await api.call("POST", "/api/v1/tokens", body: APITokenRequest(name: "spare", role: "viewer"))
        let protected = try await api.call("GET", "/api/v1/tokens", as: [APITokenView].self).map(\.id).filter { $0 != spare.id }
        let spareEnrollment: EnrollmentTokenView = try await api.call("POST", "/api/v1/enrollment-tokens", body: EnrollmentTokenRequest(expiresSeconds: 600, uses: 1))
        let simulator = try ManagedProcess.start(try gururmmBinary(), arguments: [
            "fleet-sim", "--server", server.agentURL, "--allow-plain", "--enroll-token", try await api.enrollToken(uses: 3),
            "--agents", "3", "--state-dir", server.directory + "/fleet-sim",
        ], logPath: server.directory + "/fleet-sim.log")
        try await waitUntil("3 simulated agents online", timeout: .seconds(60)) {
            try await api.call("GET", "/api/v1/fleet", as: FleetSummaryView.self).online == 3
        }
        let agents = try await api.agents()
        let run = try await api.run([agents[0].id], "true")
        _ = try await api.finish(run)
        let environment = [
            "GURURMM_FUZZ_AGENTS": agents.prefix(2).map(\.id).joined(separator: ","),
            "GURURMM_FUZZ_PROTECTED_AGENTS": agents.prefix(2).flatMap { [$0.id, $0.name] }.joined(separator: ","),
            "GURURMM_FUZZ_REVOCABLE_AGENT": agents[2].id,
            // The simulator answers no link probe: a diagnosis of one of its agents waits ~30 s.
            "GURURMM_FUZZ_SIM_AGENTS": agents.flatMap { [$0.id, $0.name] }.joined(separator: ","),
            "GURURMM_FUZZ_COMMANDS": run.commands.map(\.commandId).joined(separator: ","),
            "GURURMM_FUZZ_BATCHES": run.batchId,
            "GURURMM_FUZZ_SPARE_TOKEN": spare.id,
            "GURURMM_FUZZ_PROTECTED_TOKENS": protected.joined(separator: ","),
            "GURURMM_FUZZ_SPARE_ENROLLMENT_TOKEN": spareEnrollment.id,
        ]
        return ContractFixture(tokens: tokens, environment: environment, simulator: simulator)
    }
}
