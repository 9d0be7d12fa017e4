import ArgumentParser
import Foundation
import RMMAPI

/// `gururmm enroll-token`: create, list and revoke agent enrollment tokens.
struct EnrollTokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enroll-token", abstract: "Create, list and revoke agent enrollment tokens.",
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an enrollment token and print it.")
        @OptionGroup var api: APIOptions
        @Option(name: .customLong("expires"), help: "How long it is valid: 30m, 24h, 7d, or seconds.")
        var expires: String = "24h"
        @Option(name: .customLong("uses"), help: "How many agents may enroll with it.")
        var uses: Int = 1

        func run() async throws {
            let seconds = try parseDuration(expires, flag: "--expires")
            let view = try await api.client().createEnrollmentToken(expiresSeconds: seconds, uses: uses)
            print(view.token ?? "")
            // The token alone goes to stdout for scripts; its id, needed to revoke it, to stderr.
            FileHandle.standardError.write(Data("enrollment token \(view.id); revoke it with `gururmm enroll-token revoke \(view.id)`\n".utf8))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List enrollment tokens (never their secrets).")
        @OptionGroup var api: APIOptions
        @Flag(name: .customLong("json")) var json = false

        func run() async throws {
            let tokens = try await api.client().enrollmentTokens()
            if json { return try printJSON(tokens) }
            let format = ISO8601DateFormatter()
            let now = Date()
            var rows = [["ID", "CREATED", "EXPIRES", "USES LEFT", "STATE"]]
            for t in tokens {
                let state = t.revokedAt.map { "revoked " + format.string(from: $0) }
                    ?? (t.expiresAt.map { $0 <= now } == true ? "expired" : t.usesLeft == 0 ? "used up" : "usable")
                rows.append([t.id, format.string(from: t.createdAt), t.expiresAt.map { format.string(from: $0) } ?? "never", "\(t.usesLeft)", state])
            }
            printTable(rows)
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an enrollment token; enrollments with it are refused from then on.")
        @OptionGroup var api: APIOptions
        @Argument(help: "Enrollment token id (et_…), from `enroll-token list`.") var id: String

        func run() async throws {
            let answer = try await api.client().revokeEnrollmentToken(id)
            say(answer.message)
        }
    }
}

/// Parses "90", "90s", "30m", "24h", "7d" into seconds.
func parseDuration(_ text: String, flag: String) throws -> Double {
    let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
    var number = Substring(text)
    var factor = 1.0
    if let last = text.last, let unit = units[last] {
        number = number.dropLast()
        factor = unit
    }
    guard let value = Double(number), value > 0 else {
        throw ValidationError("\(flag) must be a duration like 90s, 30m, 24h or 7d (got '\(text)')")
    }
    return value * factor
}
