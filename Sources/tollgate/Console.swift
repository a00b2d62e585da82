import Foundation

/// Where the commands write: standard output and standard error, unless a caller (the CLI tests) reads
/// them back by running a command inside `Console.$current.withValue(_:operation:)`.
struct Console: Sendable {
    enum Stream: Sendable {
        case output, error
    }

    let write: @Sendable (String, Stream) -> Void

    @TaskLocal static var current = Console { text, stream in
        switch stream {
        case .output: Swift.print(text, terminator: "")
        case .error: FileHandle.standardError.write(Data(text.utf8))
        }
    }

    /// One line on standard error.
    static func error(_ line: String) {
        current.write(line + "\n", .error)
    }
}

/// Every `print` of the commands goes through `Console.current` (this shadows `Swift.print` in the module).
func print(_ items: Any..., separator: String = " ", terminator: String = "\n") {
    Console.current.write(items.map { "\($0)" }.joined(separator: separator) + terminator, .output)
}
