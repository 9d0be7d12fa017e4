import Foundation
import RMMAPI
import RMMProtocol
import RMMServer
import RMMStore
import RMMTestSupport
import Testing

extension EndToEnd {
    /// Start-up with the data directory's files in bad shape, and the CLI's refusal to send a token
    /// in clear text across a network: each with the real `gururmm` binary.
    @Suite("End to end: files and start-up", .serialized)
    struct StartupTests {
        /// Runs `gururmm server` on `dataDirectory` expecting it to stop by itself; its exit code and log.
        private func failedStart(_ dataDirectory: String, _ extra: [String] = ["--plain"]) async throws -> (code: Int32, output: String) {
            let process = try ManagedProcess.start(try gururmmBinary(), arguments: [
                "server", "--data-dir", dataDirectory, "--agent-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0",
            ] + extra, logPath: dataDirectory + "/../failed-start-\(UUID().uuidString).log")
            let code = try await process.waitForExit(timeout: .seconds(60))
            return (code, process.logContents())
        }

        @Test("an unreadable or damaged signing.key stops the start with its name and what to do, and is never replaced")
        func badSigningKey() async throws {
            let server = try await E2EServer.start()
            await server.stop()
            let keyPath = server.dataDirectory + "/signing.key"
            let original = try #require(FileManager.default.contents(atPath: keyPath))

            // Garbage contents.
            try Data("not a key\n".utf8).write(to: URL(fileURLWithPath: keyPath))
            var (code, output) = try await failedStart(server.dataDirectory)
            #expect(code != 0)
            #expect(output.contains(keyPath) && output.contains("restore it from a backup") && output.contains("never replaces"), "\(output)")
            #expect(FileManager.default.contents(atPath: keyPath) == Data("not a key\n".utf8))

            // Something that cannot be read as a file (what root sees of a file it may not read
            // is the same path through `open`; a directory fails the same read).
            try FileManager.default.removeItem(atPath: keyPath)
            try FileManager.default.createDirectory(atPath: keyPath, withIntermediateDirectories: false)
            (code, output) = try await failedStart(server.dataDirectory)
            #expect(code != 0)
            #expect(output.contains("cannot read \(keyPath)") && output.contains("not a regular file") && output.contains("never replaces"), "\(output)")
            var isDirectory: ObjCBool = false
            #expect(FileManager.default.fileExists(atPath: keyPath, isDirectory: &isDirectory) && isDirectory.boolValue)

            // Put back, the server starts with the same key.
            try FileManager.default.removeItem(atPath: keyPath)
            try original.write(to: URL(fileURLWithPath: keyPath))
            try await server.restartOnSamePorts()
            #expect(FileManager.default.contents(atPath: keyPath) == original)
            await server.stop()
        }

        @Test("a stored agent config that every agent would refuse stops the start, naming the field and the fix")
        func invalidStoredConfig() async throws {
            let server = try await E2EServer.start()
            await server.stop()
            // As a config saved by a release with looser ranges could be.
            do {
                let store = try SQLiteStore(path: server.dataDirectory + "/gururmm.sqlite")
                var config = AgentConfig.defaults
                config.heartbeatDeadline = 1e12
                _ = try await store.saveConfig(config, audit: nil)
            }
            let (code, output) = try await failedStart(server.dataDirectory)
            #expect(code != 0)
            #expect(output.contains("the stored agent config (version 2) is not valid: heartbeat_deadline must be") && output.contains("DELETE FROM settings"), "\(output)")
        }

        @Test("an admin.token that cannot be read stops the start instead of being replaced by a new token")
        func unreadableAdminToken() async throws {
            let server = try await E2EServer.start()
            await server.stop()
            let tokenPath = server.dataDirectory + "/admin.token"
            try FileManager.default.removeItem(atPath: tokenPath)
            try FileManager.default.createDirectory(atPath: tokenPath, withIntermediateDirectories: false)
            let (code, output) = try await failedStart(server.dataDirectory)
            #expect(code != 0)
            #expect(output.contains("cannot read \(tokenPath)") && output.contains("move it away"), "\(output)")
            var isDirectory: ObjCBool = false
            #expect(FileManager.default.fileExists(atPath: tokenPath, isDirectory: &isDirectory) && isDirectory.boolValue)
        }

        @Test("a damaged tls.key stops a TLS start with its name; it is never replaced")
        func badTLSKey() async throws {
            let server = try await E2EServer.start(tls: true)
            await server.stop()
            let keyPath = server.dataDirectory + "/tls.key"
            try Data("-----BEGIN PRIVATE KEY-----\ngarbage\n".utf8).write(to: URL(fileURLWithPath: keyPath))
            let (code, output) = try await failedStart(server.dataDirectory, [])
            #expect(code != 0)
            #expect(output.contains(keyPath) && output.contains("never replaces an existing TLS key"), "\(output)")
            #expect(FileManager.default.contents(atPath: keyPath) == Data("-----BEGIN PRIVATE KEY-----\ngarbage\n".utf8))
        }

        @Test("a data directory writable by its group (or owned by another user) is refused, saying why")
        func unsafeDataDirectory() async throws {
            let base = try freeTemporaryDirectory(prefix: "gururmm-e2e-perm")
            let data = base + "/data"
            try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: false)
            chmod(data, 0o770)
            var (code, output) = try await failedStart(data)
            #expect(code != 0)
            #expect(output.contains("refusing to use data directory") && output.contains("writable by its group") && output.contains("chmod 700 \(data)"), "\(output)")
            #expect(!FileManager.default.fileExists(atPath: data + "/signing.key"))
            #expect(!FileManager.default.fileExists(atPath: data + "/gururmm.sqlite"))

            if geteuid() == 0 {
                chmod(data, 0o700)
                chown(data, 65534, 65534)
                (code, output) = try await failedStart(data)
                #expect(code != 0)
                #expect(output.contains("is owned by user 65534"), "\(output)")
            }
        }

        @Test("an agent refuses a state directory other users can write to, saying why, before it makes a key")
        func unsafeStateDirectory() async throws {
            let state = try freeTemporaryDirectory(prefix: "gururmm-e2e-state") + "/state"
            try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: false)
            chmod(state, 0o777)
            let agent = try E2EAgent.start(name: "open-door", server: "ws://127.0.0.1:1", enrollToken: nil, stateDirectory: state)
            let code = try await agent.process.waitForExit(timeout: .seconds(60))
            let log = agent.process.logContents()
            #expect(code != 0)
            #expect(log.contains("refusing to use state directory: \(state) is writable by its group and other users") && log.contains("chmod 700 \(state)"), "\(log)")
            #expect(!FileManager.default.fileExists(atPath: state + "/identity.json"))
        }

        @Test("what the server creates is private: 0700 directory, 0600 keys, token, database and its WAL")
        func privateFiles() async throws {
            let server = try await E2EServer.start()
            #expect(try FileManager.default.attributesOfItem(atPath: server.dataDirectory)[.posixPermissions] as? Int == 0o700)
            for file in ["signing.key", "admin.token", "server.json", "gururmm.sqlite", "gururmm.sqlite-wal", "gururmm.sqlite-shm"] {
                let mode = try FileManager.default.attributesOfItem(atPath: server.dataDirectory + "/" + file)[.posixPermissions] as? Int
                #expect(mode == 0o600, "\(file): \(String(mode ?? 0, radix: 8))")
            }
            await server.stop()
        }

        @Test("revoking the bootstrap admin token does not stop the next start; the server says it started without it")
        func revokedBootstrapToken() async throws {
            let server = try await E2EServer.start()
            let tokens: [APITokenView] = try await server.api.call("GET", "/api/v1/tokens")
            let bootstrap = try #require(tokens.first { $0.name == "admin" })
            let other: APITokenView = try await server.api.call("POST", "/api/v1/tokens", body: APITokenRequest(name: "second-admin", role: "admin"))
            let otherSecret = try #require(other.token)
            let (status, _) = try await server.api.raw("DELETE", "/api/v1/tokens/\(bootstrap.id)", token: otherSecret)
            #expect(status == 200)
            await server.stop()

            try await server.restartOnSamePorts()
            // The line is logged just after server.json appears: wait for it rather than read once.
            let expected = "admin token in \(server.dataDirectory)/admin.token is revoked; started without it"
            let process = server.process
            try await waitUntil("the revoked-token line in the log", timeout: .seconds(10)) { process.logContents().contains(expected) }
            // The revoked token stays revoked; the other admin token works.
            #expect(try await server.api.raw("GET", "/api/v1/agents").0 == 401)
            #expect(try await server.api.raw("GET", "/api/v1/agents", token: otherSecret).0 == 200)
            let after: [APITokenView] = try await TestAPI(base: server.api.base, token: otherSecret).call("GET", "/api/v1/tokens")
            #expect(after.filter { $0.name == "admin" }.count == 1)
            #expect(after.first { $0.id == bootstrap.id }?.revokedAt != nil)
            await server.stop()
        }

        @Test("the CLI refuses plain http:// to a host that is not loopback without --allow-plain-http, before any connection")
        func plainHTTPRefused() async throws {
            let directory = try freeTemporaryDirectory(prefix: "gururmm-e2e-cli")
            let clock = ContinuousClock()
            let started = clock.now
            // 192.0.2.1 is TEST-NET-1: a connection attempt would hang until the CLI's timeout.
            var (code, output) = try await runCLI(dataDirectory: directory, ["agents", "--api", "http://192.0.2.1:7080", "--token", "grt_x"])
            #expect(code != 0)
            #expect(output.contains("refusing to send the API token over plain http:// to 192.0.2.1") && output.contains("--allow-plain-http"), "\(output)")
            #expect(!output.contains("cannot reach"))
            #expect(clock.now - started < .seconds(20))

            // With the flag (or its variable) it tries: a name that can never resolve fails to connect.
            (code, output) = try await runCLI(dataDirectory: directory, ["agents", "--api", "http://gururmm.invalid:7080", "--token", "grt_x"])
            #expect(code != 0 && output.contains("refusing to send the API token"), "\(output)")
            (code, output) = try await runCLI(dataDirectory: directory, ["agents", "--api", "http://gururmm.invalid:7080", "--token", "grt_x", "--allow-plain-http"])
            #expect(code != 0 && output.contains("cannot reach the GuruRMM API at http://gururmm.invalid:7080"), "\(output)")
            let process = try ManagedProcess.start(try gururmmBinary(), arguments: ["agents", "--api", "http://gururmm.invalid:7080", "--token", "grt_x"],
                                                   environment: ["GURURMM_ALLOW_PLAIN_HTTP": "1"], logPath: directory + "/env.log")
            #expect(try await process.waitForExit(timeout: .seconds(60)) != 0)
            #expect(process.logContents().contains("cannot reach the GuruRMM API"), "\(process.logContents())")
        }
    }
}
