import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix

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
        ConcurrencyExecutor.install()
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

/// Where Swift concurrency runs its tasks. By default on SwiftNIO's event loops, the threads that already read and
/// write every socket: a request's handler, its journey and the facilitator, store and upstream answers then stay on
/// one thread instead of hopping between the event loops and the cooperative pool at every `await` (that hop was most
/// of the kernel's scheduling time in the benchmark's profiles). So no task may block: SQLite runs on GRDB's own
/// queues, PostgreSQL and HTTP are non-blocking, and file work that syncs goes through `BlockingIO`
/// (docs/architecture.md, "What a request costs"). `TOLLGATE_EXECUTOR=default` keeps Swift's own pool (to compare, or
/// if a deployment runs code that blocks).
enum ConcurrencyExecutor {
    static func install() {
        guard ProcessInfo.processInfo.environment["TOLLGATE_EXECUTOR"] != "default" else { return }
        _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }
}
