import Logging
import ServiceLifecycle

/// Copies the store's revocations and incidents into `OperatorControls` every `interval`, so a change
/// made through any instance's admin API takes effect on this one within a second, and at once when the store
/// announces changes (`ControlStore.followControlChanges`: PostgreSQL's `NOTIFY`); the poll stays as the fallback
/// for a notification lost while the listening connection was down.
///
/// When the store cannot be read the last state is kept (a store outage must not lift revocations)
/// and the failure is logged once, then again when it recovers.
public struct ControlsRefresher: Service {
    let store: any ControlStore
    let controls: OperatorControls
    let interval: Duration
    let logger: Logger

    public init(store: any ControlStore, controls: OperatorControls, interval: Duration = .seconds(1), logger: Logger) {
        self.store = store
        self.controls = controls
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await store.followControlChanges { try? await refresh() } }
                await loop()
                group.cancelAll()
            }
        }
    }

    /// Loads once and applies it; on failure `controls` is left as it was.
    public func refresh() async throws {
        controls.replace(with: try await store.loadControls())
    }

    private func loop() async {
        var failing = false
        while !Task.isCancelled {
            do {
                try await refresh()
                if failing { logger.info("operator controls readable again") }
                failing = false
            } catch {
                if !failing {
                    logger.warning("cannot read operator controls; keeping the last state", metadata: ["tollgate.error": "\(error)"])
                }
                failing = true
            }
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
        }
    }
}
