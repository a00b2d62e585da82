import ArgumentParser
import Foundation
import Synchronization
import Testing
@testable import tollgate

/// One `tollgate …` invocation run in-process: what it wrote to standard output and error, and the exit
/// status the binary would end with (ArgumentParser's mapping of the error the command threw).
struct CommandRun {
    var status: Int32
    var output: String
    var error: String

    /// Standard output read as JSON of the type expected (an object unless said otherwise).
    func json<T>(_ type: T.Type = [String: Any].self) throws -> T {
        try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? T, "not the JSON expected: \(output.prefix(300))")
    }

    static func tollgate(_ arguments: String...) async -> CommandRun {
        await tollgate(arguments)
    }

    static func tollgate(_ arguments: [String]) async -> CommandRun {
        let written = Written()
        let console = Console { text, stream in
            written.streams.withLock { streams in
                switch stream {
                case .output: streams.output += text
                case .error: streams.error += text
                }
            }
        }
        let status = await Console.$current.withValue(console) {
            do {
                var command = try Tollgate.parseAsRoot(arguments)
                if var asynchronous = command as? any AsyncParsableCommand {
                    try await asynchronous.run()
                } else {
                    try command.run()
                }
                return ExitCode.success.rawValue
            } catch {
                // What `Tollgate.main()` does on the way out.
                let message = Tollgate.fullMessage(for: error)
                if !message.isEmpty { console.write(message + "\n", .error) }
                return Tollgate.exitCode(for: error).rawValue
            }
        }
        let streams = written.streams.withLock { $0 }
        return CommandRun(status: status, output: streams.output, error: streams.error)
    }
}

/// What a command wrote, stream by stream.
private final class Written: Sendable {
    let streams = Mutex((output: "", error: ""))
}
