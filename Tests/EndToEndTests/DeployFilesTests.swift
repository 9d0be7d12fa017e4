import Foundation
import RMMTestSupport
import Testing

/// The files in `deploy/`: the units carry the settings they promise and agree with the nginx
/// site; `systemd-analyze verify` and shellcheck pass where they are installed.
@Suite("deploy/ files")
struct DeployFilesTests {
    static let deploy = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("deploy")

    static func read(_ path: String) throws -> String {
        try String(contentsOf: deploy.appendingPathComponent(path), encoding: .utf8)
    }

    /// A unit's `[Service]` keys, each with every value it is given (continuation lines joined).
    static func serviceKeys(_ unit: String) -> [String: [String]] {
        var keys: [String: [String]] = [:]
        var section = ""
        let joined = unit.replacingOccurrences(of: "\\\n", with: " ")
        for raw in joined.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("#") || line.isEmpty { continue }
            if line.hasPrefix("[") { section = line; continue }
            guard section == "[Service]", let equals = line.firstIndex(of: "=") else { continue }
            keys[String(line[..<equals]), default: []].append(String(line[line.index(after: equals)...]))
        }
        return keys
    }

    /// The value a `--flag value` has in an ExecStart line.
    static func flag(_ name: String, in command: String) -> String? {
        let words = command.split(whereSeparator: \.isWhitespace).map(String.init)
        return words.firstIndex(of: name).flatMap { $0 + 1 < words.count ? words[$0 + 1] : nil }
    }

    @Test("the server unit carries the hardening and agrees with the nginx site")
    func serverUnit() throws {
        let keys = Self.serviceKeys(try Self.read("systemd/gururmm-server.service"))
        let expected: [String: String] = [
            "User": "gururmm", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ReadWritePaths": "/var/lib/gururmm",
            "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes", "ProtectKernelTunables": "yes",
            "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes", "SystemCallFilter": "@system-service",
            "CapabilityBoundingSet": "", "Restart": "on-failure",
        ]
        for (key, value) in expected {
            #expect(keys[key]?.contains(value) == true, "\(key)=\(value) (has \(keys[key] ?? []))")
        }
        #expect(Set(keys["RestrictAddressFamilies"]?.first?.split(separator: " ").map(String.init) ?? []) == ["AF_INET", "AF_INET6", "AF_UNIX"])
        #expect((keys["LimitNOFILE"]?.first.flatMap(Int.init) ?? 0) >= 200_000, "two descriptors per agent for 100000 agents")

        let command = try #require(keys["ExecStart"]?.first)
        let site = try Self.read("nginx/gururmm.conf")
        let dataDirectory = try #require(Self.flag("--data-dir", in: command))
        #expect(keys["ReadWritePaths"]?.first == dataDirectory)
        #expect(site.contains("proxy_ssl_trusted_certificate \(dataDirectory)/tls.crt;"), "nginx trusts the server's own certificate")
        for listen in ["--api-listen", "--agent-listen"] {
            let address = try #require(Self.flag(listen, in: command))
            #expect(site.contains("server \(address);"), "an nginx upstream is the server's \(listen) \(address)")
        }
        #expect(Self.flag("--enroll-trust", in: command) == "system")
        #expect(Self.flag("--trusted-proxy", in: command) == "127.0.0.1/32", "nginx on this host is the trusted proxy")
        for limit in ["--max-unauthenticated-per-address", "--max-failed-auth-per-minute"] {
            #expect(Self.flag(limit, in: command) == nil, "nginx names each agent, so \(limit) keeps its per-address default")
        }
        #expect(site.contains("proxy_set_header X-Forwarded-For $remote_addr;") && !site.contains("$proxy_add_x_forwarded_for"),
                "nginx sets the header; appending would keep what a client wrote")
    }

    @Test("the agent unit runs as root with a restart policy and the install script's placeholders")
    func agentUnit() throws {
        let keys = Self.serviceKeys(try Self.read("systemd/gururmm-agent.service"))
        #expect(keys["User"] == nil && keys["NoNewPrivileges"] == nil && keys["ProtectSystem"] == nil, "the agent administers the machine")
        #expect(keys["Restart"] == ["always"])
        let command = try #require(keys["ExecStart"]?.first)
        for placeholder in ["@BINARY@", "@SERVER_URL@", "@STATE_DIR@", "@AGENT_FLAGS@"] {
            #expect(command.contains(placeholder))
        }
        #expect(command.contains("--enroll-token-file @STATE_DIR@/enroll.token"), "the token never on the command line")
    }

    @Test("systemd-analyze verify accepts both units")
    func systemdVerify() async throws {
        guard let analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first(where: FileManager.default.isExecutableFile(atPath:)) else {
            try Test.cancel("needs systemd-analyze (the systemd package); the key checks above ran")
        }
        let directory = try freeTemporaryDirectory(prefix: "gururmm-units")
        // verify wants the ExecStart binary to exist: the built one stands in.
        let binary = try gururmmBinary()
        let server = try Self.read("systemd/gururmm-server.service").replacingOccurrences(of: "/usr/local/bin/gururmm", with: binary)
        let agent = try Self.read("systemd/gururmm-agent.service")
            .replacingOccurrences(of: "@BINARY@", with: binary).replacingOccurrences(of: "@SERVER_URL@", with: "wss://rmm.example.com:7443")
            .replacingOccurrences(of: "@STATE_DIR@", with: "/var/lib/gururmm-agent").replacingOccurrences(of: "@ENVIRONMENT@", with: "")
            .replacingOccurrences(of: "@AGENT_FLAGS@", with: "")
        for (name, text) in [("gururmm-server.service", server), ("gururmm-agent.service", agent)] {
            try text.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
            let process = try ManagedProcess.start(analyze, arguments: ["verify", directory + "/" + name], logPath: directory + "/\(name).log")
            let code = try await process.waitForExit(timeout: .seconds(60))
            #expect(code == 0 && process.logContents().isEmpty, "\(name): \(process.logContents())")
        }
    }

    @Test("shellcheck finds nothing in install-agent.sh")
    func shellcheck() async throws {
        guard let shellcheck = ["/usr/bin/shellcheck", "/usr/local/bin/shellcheck"].first(where: FileManager.default.isExecutableFile(atPath:)) else {
            if ProcessInfo.processInfo.environment["GURURMM_REQUIRE_TOOLS"] == "1" { throw E2EError("GURURMM_REQUIRE_TOOLS=1: needs shellcheck") }
            try Test.cancel("needs shellcheck (apt-get install shellcheck)")
        }
        let log = try freeTemporaryDirectory(prefix: "gururmm-shellcheck") + "/out.log"
        let process = try ManagedProcess.start(shellcheck, arguments: [Self.deploy.appendingPathComponent("install-agent.sh").path], logPath: log)
        let code = try await process.waitForExit(timeout: .seconds(60))
        #expect(code == 0, "\(process.logContents())")
    }
}
