import ArgumentParser
import Foundation
import Logging

@main
struct Tollgate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tollgate",
        abstract: "A payment gate for HTTP APIs, datasets and MCP tools (x402 v2).",
        subcommands: [
            Serve.self, MCPCommand.self, SampleMCPCommand.self, Check.self, Trace.self, Facilitator.self, SampleUpstreamCommand.self, Demo.self, Bench.self, BenchBare402.self, HashKey.self,
            Admin.self, RefundCommand.self, UsageCommand.self, Audit.self,
            Dispute.self, Reconcile.self, Migrate.self,
            Design.self,
            InitCommand.self,
            Pay.self, Wallet.self,
        ])

    /// As ArgumentParser's own, except that `tollgate pay` keeps its documented exit statuses: a command line it cannot
    /// parse is status 1 ("anything else"), not 64.
    static func main() async {
        ConcurrencyTakeover.forServers(CommandLine.arguments)
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            if CommandLine.arguments.dropFirst().first == "pay", !(error is ExitCode), exitCode(for: error) != .success {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                exit(withError: ExitCode(1))
            }
            exit(withError: error)
        }
    }
}

/// Options every long-running command shares.
struct LoggingOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func makeLogger(_ label: String) -> Logger {
        LoggingBootstrap.once
        var logger = Logger(label: label)
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        return logger
    }
}

enum LoggingBootstrap {
    static let once: Void = LoggingSystem.bootstrap(StreamLogHandler.standardError)
}
