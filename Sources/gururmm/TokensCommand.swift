import ArgumentParser
import Foundation
import RMMAPI

/// `gururmm tokens`: operator API tokens with roles (admin only).
struct TokensCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokens", abstract: "Create, list and revoke operator API tokens.",
        subcommands: [Create.self, List.self, Revoke.self], defaultSubcommand: List.self
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a token and print its secret (shown once).")
        @OptionGroup var api: APIOptions
        @Option(name: .customLong("name"), help: "Who or what uses it.") var name: String
        @Option(name: .customLong("role"), help: "viewer, operator or admin.") var role: String = "viewer"

        func run() async throws {
            let view = try await api.client().createAPIToken(name: name, role: role)
            say(view.token ?? "")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens (never their secrets).")
        @OptionGroup var api: APIOptions
        @Flag(name: .customLong("json")) var json = false

        func run() async throws {
            let tokens = try await api.client().apiTokens()
            if json { return try printJSON(tokens) }
            let format = ISO8601DateFormatter()
            var rows = [["ID", "NAME", "ROLE", "CREATED", "REVOKED"]]
            for t in tokens { rows.append([t.id, t.name, t.role, format.string(from: t.createdAt), t.revokedAt.map { format.string(from: $0) } ?? "-"]) }
            printTable(rows)
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token; it is refused from then on.")
        @OptionGroup var api: APIOptions
        @Argument(help: "Token id.") var id: String

        func run() async throws {
            let answer = try await api.client().revokeAPIToken(id)
            say(answer.message)
        }
    }
}

/// `gururmm audit`: the append-only log of operator actions.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "audit", abstract: "Show the audit log of operator actions, newest first.")
    @OptionGroup var api: APIOptions
    @Option(name: .customLong("limit")) var limit = 100
    @Flag(name: .customLong("json")) var json = false

    func run() async throws {
        let entries = try await api.client().audit(limit: limit)
        if json { return try printJSON(entries) }
        let format = ISO8601DateFormatter()
        var rows = [["WHEN", "WHO", "TOKEN", "ROLE", "ACTION", "TARGETS", "FROM", "DETAIL"]]
        for e in entries {
            rows.append([format.string(from: e.at), e.actor, e.tokenId ?? "-", e.role, e.action, e.targets.prefix(3).joined(separator: ",") + (e.targets.count > 3 ? "…(\(e.targets.count))" : ""), e.remote, String(e.detail.prefix(80))])
        }
        printTable(rows)
    }
}
