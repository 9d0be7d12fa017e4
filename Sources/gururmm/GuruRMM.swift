import ArgumentParser
import Foundation

/// The `gururmm` command: server, agent and operator CLI in one executable.
@main
struct GuruRMM: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "gururmm",
        abstract: "GuruRMM: remote monitoring and management with acknowledged command delivery.",
        version: version,
        subcommands: [
            ServerCommand.self, AgentCommand.self, FleetSimCommand.self, DemoCommand.self,
            EnrollTokenCommand.self, AgentsCommand.self, DoctorCommand.self, RunCommand.self, CommandsCommand.self, DiagnoseCommand.self,
            TokensCommand.self, AuditCommand.self, BenchCommand.self, StoreCommand.self, ClusterCommand.self,
        ]
    )
}
