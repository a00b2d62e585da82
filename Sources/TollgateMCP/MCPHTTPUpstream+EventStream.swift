import AsyncHTTPClient
import HTTPTypes
import NIOCore
import NIOHTTP1
import TollgateCore

extension MCPHTTPUpstream {
    /// How many questions one call's event stream gets answered (`refuse`); a server that asks more is left to the
    /// call's deadline rather than given a POST for each.
    static let maxRefusedQuestions = 16

    /// Runs `work` until `timeout` has passed, then cancels it and throws `upstreamUnavailable`, as a server that sends no
    /// response head in time is answered. Cancelled, AsyncHTTPClient ends a body being read (`CancellationError`) and
    /// closes its connection, so the call gives the server's connection back as it ends.
    static func within<T: Sendable>(_ timeout: TimeAmount, _ work: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await work() }
            group.addTask {
                try await Task.sleep(nanoseconds: UInt64(max(timeout.nanoseconds, 0)))
                return nil
            }
            defer { group.cancelAll() }
            if let answer = try await group.next(), let answer { return answer }
            let millis = timeout.nanoseconds / 1_000_000
            let shown = millis % 1000 == 0 ? "\(millis / 1000) s" : "\(millis) ms"
            throw TollgateError(.upstreamUnavailable, "the MCP server did not answer within \(shown) (the whole answer, an event stream's to its end)")
        }
    }

    /// Refuses a request the server sent its client on a call's event stream (elicitation, sampling, roots) with
    /// `-32601`, as the stdio upstream does, and answers its `ping` (an empty result): neither the gateway nor a paying client relays it, and a server waiting for
    /// its answer would hold the call until its deadline. Streamable HTTP has the client POST its answer in the session;
    /// one the server does not take (refused, unreachable) changes nothing, the deadline still ends the call.
    func refuse(_ question: JSONRPCMessage, callerFields: HTTPFields, contract: HTTPFields, fields: HTTPFields, deadline: NIODeadline) async {
        var post = inSession(.POST, callerFields: callerFields, contract: contract, fields: fields)
        post.headers.add(name: "Content-Type", value: "application/json")
        post.headers.add(name: "Accept", value: "application/json, text/event-stream")
        // A `ping` is answered as MCP asks every client to (an empty result): a server checking the call is still wanted
        // would otherwise drop it.
        let refusal = question.method == "ping" ? JSONRPCMessage.result(id: question.id ?? .null, .object([:]))
            : JSONRPCMessage.error(id: question.id, code: JSONRPCCode.methodNotFound,
                                   message: "\(question.method ?? "this request") is not served: requests from the server are not relayed to this call's client")
        post.body = .bytes(ByteBuffer(bytes: refusal.bytes))
        guard let response = try? await client.execute(post, deadline: deadline) else { return }
        // Read (a 202 has no body) so the connection can serve the next call.
        _ = try? await response.body.collect(upTo: 64 << 10)
    }

    /// One call's event stream across its resumptions: the events read so far and the bytes they took.
    struct StreamReader {
        let id: JSONValue?
        let limit: Int
        let requiresExactNumbers: Bool
        var events = ServerSentEvents()
        var read = 0
        var refused = 0

        /// The answer to the call, or nil when this part of the stream ended without it. A connection lost after the
        /// server named an event id ends the part like a close (the rest can be asked for); before, it is no answer.
        /// A request from the server (a method and an id) goes to `refusing`, at most `maxRefusedQuestions` per call.
        mutating func read(_ body: HTTPClientResponse.Body, refusing: @Sendable (JSONRPCMessage) async -> Void) async throws -> JSONRPCMessage? {
            do {
                for try await chunk in body {
                    read += chunk.readableBytes
                    if read > limit { throw TollgateError(.upstreamUnavailable, "the MCP server's answer is larger than allowed") }
                    for data in events.feed(chunk.readableBytesView) {
                        guard let (message, exact) = JSONRPCMessage.parseAnswer(data) else { continue }
                        if message.id == id, message.method == nil {
                            guard exact || !requiresExactNumbers else { throw JSONRPCMessage.inexactAnswer }
                            return message
                        }
                        if message.isRequest, refused < MCPHTTPUpstream.maxRefusedQuestions {
                            refused += 1
                            await refusing(message)
                        }
                    }
                }
            } catch let error as TollgateError {
                throw error
            } catch is CancellationError {
                // The call's deadline, not a lost connection: nothing to resume.
                throw CancellationError()
            } catch where events.lastEventId != nil {
                events.endOfStream()
                return nil
            }
            events.endOfStream()
            return nil
        }
    }
}
