import NIOCore
import NIOPosix

/// The server commands run Swift Concurrency's jobs on NIO's event loops instead of the default global pool.
///
/// A request handled by Hummingbird hops between the event loop that reads the socket and the concurrency pool that runs
/// the handler, and back, at every `await` that touches a channel (the client connection, the facilitator, the
/// upstream). Each hop is a thread switch; on the paid path they were the largest single cost in the kernel's share of
/// the profile. With the event loops as the global executor those hops stay on one thread.
/// Only long-running servers take over: their code never blocks a concurrency thread (the stores wait for SQLite on
/// their own queues). Commands that read a terminal or stdin (`pay`, `init`, `mcp` over stdio) keep the default pool.
enum ConcurrencyTakeover {
    static let serverCommands: Set<String> = ["serve", "facilitator", "sample-upstream", "bench-bare-402"]

    static func forServers(_ arguments: [String]) {
        guard let command = arguments.dropFirst().first, serverCommands.contains(command) else { return }
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }
}
