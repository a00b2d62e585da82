import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A program started with `posix_spawn`, its standard input and output pipes of the gateway's, its standard error the
/// gateway's own.
///
/// Not Foundation's `Process`: on Linux it ties each child to the run loop of the thread that started it, starts it with
/// that thread's signal mask (the threads of Swift concurrency block nearly every signal, so SIGTERM never arrived), and
/// the test suite crashed inside `Process.run` (a bad read in a memory copy) while stdio servers were being started,
/// with nothing changing the environment; its `FileHandle.availableData` also ends the process on an interrupted read.
/// Here the child starts with no signal blocked and every handler at its default (the gateway ignores SIGPIPE; a server
/// must not inherit that), in a process group of its own, with only its three standard descriptors; the thread that
/// reads its output reaps it once the output ends.
final class ChildProcess: Sendable {
    /// Why a program could not be started.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    let pid: pid_t
    /// The write end of the child's standard input.
    let input: FileHandle
    /// The read end of the child's standard output, read (and closed) by `readOutput`'s thread.
    private let output: Int32
    private let reaped = Atomic<Bool>(false)

    /// Starts `command` (a program path, or a name looked up in `PATH`, then its arguments) in the gateway's environment.
    init(command: [String]) throws(Failure) {
        guard let program = command.first else { throw Failure(description: "no program to start") }
        var inputPipe: [Int32] = [-1, -1], outputPipe: [Int32] = [-1, -1]
        guard pipe(&inputPipe) == 0 else { throw Failure(description: "no pipe for its input: \(Self.error())") }
        guard pipe(&outputPipe) == 0 else {
            let description = "no pipe for its output: \(Self.error())"
            inputPipe.forEach { close($0) }
            throw Failure(description: description)
        }
        // Close-on-exec (`pipe2` is not exported to Swift): no other child started meanwhile keeps a copy of them.
        for descriptor in inputPipe + outputPipe { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // `dup2` gives the child its own inheritable copies as standard input and output.
        posix_spawn_file_actions_adddup2(&actions, inputPipe[0], STDIN_FILENO)
        posix_spawn_file_actions_adddup2(&actions, outputPipe[1], STDOUT_FILENO)
        Self.closeAllButStandardDescriptors(&actions)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t(), allSignals = sigset_t()
        sigemptyset(&noSignals)
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let arguments = command.map { strdup($0) } + [nil]
        defer { arguments.forEach { free($0) } }
        var pid = pid_t()
        let status = program.contains("/")
            ? posix_spawn(&pid, program, &actions, &attributes, arguments, environ)
            : posix_spawnp(&pid, program, &actions, &attributes, arguments, environ)
        close(inputPipe[0])
        close(outputPipe[1])
        guard status == 0 else {
            close(inputPipe[1])
            close(outputPipe[0])
            throw Failure(description: "\(program): \(String(cString: strerror(status)))")
        }
        self.pid = pid
        input = FileHandle(fileDescriptor: inputPipe[1], closeOnDealloc: true)
        output = outputPipe[0]
    }

    /// Until its output ends and it was reaped.
    var isRunning: Bool { !reaped.load(ordering: .acquiring) }

    /// Asks it to stop (SIGTERM).
    func terminate() {
        if isRunning { kill(pid, SIGTERM) }
    }

    /// Reads the child's output on a thread of its own (stdio has no readiness events here), handing each line (without
    /// its newline) to `line`; a line past `maxLineBytes` is dropped. Once the output ends, reaps the child and calls
    /// `ended`.
    func readLines(maxLineBytes: Int, _ line: @escaping @Sendable ([UInt8]) -> Void, ended: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            var chunk = [UInt8](repeating: 0, count: 64 * 1024), buffer: [UInt8] = []
            while true {
                let count = chunk.withUnsafeMutableBytes { read(output, $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { break }
                buffer.append(contentsOf: chunk[..<count])
                while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    line(Array(buffer[..<newline]))
                    buffer.removeSubrange(...newline)
                }
                if buffer.count > maxLineBytes { buffer.removeAll() }
            }
            close(output)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0, errno == EINTR {}
            reaped.store(true, ordering: .releasing)
            ended()
        }
        thread.start()
    }

    /// Has the child close every descriptor above its standard three as it starts. glibc 2.34 and later do it in the
    /// child itself (`posix_spawn_file_actions_addclosefrom_np`, looked up at run time: Swift's Glibc module does not
    /// export it), so a socket another thread accepts while this one spawns is not inherited (NIO's are not
    /// close-on-exec). Older C libraries get a close action for each descriptor inheritable now, which leaves that instant.
    private static func closeAllButStandardDescriptors(_ actions: inout posix_spawn_file_actions_t) {
        if let closeFrom = closeFromAction {
            if closeFrom(&actions, STDERR_FILENO + 1) == 0 { return }
        }
        for descriptor in inheritableDescriptors() where descriptor > STDERR_FILENO {
            posix_spawn_file_actions_addclose(&actions, descriptor)
        }
    }

    private typealias CloseFromAction = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    /// `posix_spawn_file_actions_addclosefrom_np`, when the C library has it (`RTLD_DEFAULT` is the null handle).
    private static let closeFromAction: CloseFromAction? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np")
        .map { unsafeBitCast($0, to: CloseFromAction.self) }

    /// This process's descriptors a child would inherit (not close-on-exec).
    private static func inheritableDescriptors() -> [Int32] {
        let listed = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return listed.compactMap { Int32($0) }.filter { descriptor in
            let flags = fcntl(descriptor, F_GETFD)
            return flags >= 0 && flags & FD_CLOEXEC == 0
        }
    }

    private static func error() -> String { String(cString: strerror(errno)) }
}
