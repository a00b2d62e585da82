import Foundation
import Synchronization

/// Starts programs from one thread that lives as long as the gateway, with no signal blocked while it starts one.
///
/// A child starts with its parent thread's signal mask, and the threads of Swift concurrency block nearly every signal:
/// a server started from one could not be stopped (`terminate` sends SIGTERM, which stayed blocked). Between launches
/// the thread blocks every signal, as the others do, so a signal meant for the gateway (SIGTERM, SIGINT: a graceful
/// shutdown) is never delivered to this thread instead of the one that handles it. And Foundation's
/// `Process.run` ties the process to the launching thread's run loop (it is woken there when the child exits): a thread
/// started for one launch and ended right after it left that run loop behind, and the test suite crashed in memory
/// copies, twice, while a stdio server was being started. One thread that never ends launches every program, one at a
/// time.
final class ProcessLauncher: Sendable {
    static let shared = ProcessLauncher()

    private struct Launch: Sendable {
        let process: Process
        let launched: CheckedContinuation<Void, any Error>
    }

    private let queue = Mutex<[Launch]>([])
    private let pending = DispatchSemaphore(value: 0)

    private init() {
        // The launcher is shared and never released: its thread keeps it.
        let thread = Thread { [self] in
            var all = sigset_t(), none = sigset_t()
            sigfillset(&all)
            sigemptyset(&none)
            pthread_sigmask(SIG_SETMASK, &all, nil)
            while true {
                self.pending.wait()
                guard let launch = self.queue.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { continue }
                pthread_sigmask(SIG_SETMASK, &none, nil)
                let launched = Result { try launch.process.run() }
                pthread_sigmask(SIG_SETMASK, &all, nil)
                launch.launched.resume(with: launched)
            }
        }
        thread.name = "tollgate.process-launcher"
        thread.start()
    }

    /// Runs `process`, from the launcher's thread.
    func run(_ process: Process) async throws {
        try await withCheckedThrowingContinuation { (launched: CheckedContinuation<Void, any Error>) in
            queue.withLock { $0.append(Launch(process: process, launched: launched)) }
            pending.signal()
        }
    }
}
