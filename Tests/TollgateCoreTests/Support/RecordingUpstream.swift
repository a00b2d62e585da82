import HTTPTypes
import Synchronization
import TollgateCore

/// A backend that answers as configured and keeps every request it received.
final class RecordingUpstream: Upstream {
    struct Script: Sendable {
        var status: HTTPResponse.Status = .ok
        var body: [UInt8] = Array("the data".utf8)
        var failure: TollgateError?
        var fields: HTTPFields = [:]
        var received: [UpstreamRequest] = []
        /// How long the upstream takes to answer.
        var delay: Duration?
        /// Runs while the request is at the upstream, before it answers (what happens elsewhere meanwhile).
        var meanwhile: (@Sendable () async -> Void)?
        /// False: an interim answer (`UpstreamResponse.isFinal`).
        var isFinal = true
    }

    private let script = Mutex(Script())

    func update(_ change: (inout Script) -> Void) { script.withLock { change(&$0) } }
    var received: [UpstreamRequest] { script.withLock { $0.received } }

    func send(_ request: UpstreamRequest) async throws -> UpstreamResponse {
        let script = script.withLock { script in
            script.received.append(request)
            return script
        }
        if let delay = script.delay { try await Task.sleep(for: delay) }
        await script.meanwhile?()
        if let failure = script.failure { throw failure }
        var fields = script.fields
        if fields[.contentType] == nil { fields[.contentType] = "text/plain" }
        return UpstreamResponse(status: script.status, headerFields: fields, body: script.body, isFinal: script.isFinal)
    }
}
