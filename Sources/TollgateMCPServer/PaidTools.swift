import HTTPTypes
import MCP
import TollgateCore
import TollgateGateway
import TollgateMCP

/// The in-process MCP door: a swift-sdk `Server`'s `tools/call` handler wrapped so the tools the configuration prices
/// (`mcp.tools`) go through the journey, exactly as behind `tollgate mcp`. A priced call becomes `MCPToolGate`'s
/// request (`POST /<tool>`, its arguments as the body, `_meta["x402/payment"]` as the proof) and the handler is the
/// upstream; its answer comes back in the x402 MCP transport's terms (docs/architecture.md, "In-process MCP door").
///
/// ```swift
/// let paid = PaidTools(assembly: assembly)
/// await server.withMethodHandler(CallTool.self, handler: paid.wrap { params in try await tools.call(params) })
/// await server.withMethodHandler(ListTools.self) { _ in paid.priced(ListTools.Result(tools: tools.all)) }
/// ```
public struct PaidTools: Sendable {
    public let gate: MCPToolGate

    /// What the gateway decided about the call a wrapped handler is running (client, payer, amount, unit, correlation
    /// id); nil outside a priced call. Read it in the handler instead of anything the caller sent.
    @TaskLocal public static var paidRequest: TollgatePaidRequest?

    public init(gate: MCPToolGate) {
        self.gate = gate
    }

    /// The gate of an assembly built from a configuration with an `mcp:` section: its gateway, and its priced tools
    /// as routes. Run `assembly.services` beside the server: without the facilitator check, paid tools are refused.
    public init(assembly: GatewayAssembly) {
        self.init(gate: MCPToolGate(gateway: assembly.gateway, tools: RouteTable(assembly.configuration.routes)))
    }

    /// Wraps a `CallTool` handler: priced tools go through the journey; others call `handler` directly.
    ///
    /// On a priced tool, `handler` runs only once the call is paid (or its payment verified, for a route that settles
    /// after), with the call's parameters less `_meta["x402/payment"]`. A result with `isError: true`, a thrown
    /// `MCPError` (passed back to the caller as it was) or any other thrown error (the tool gave no answer) is not
    /// charged, unless the tool's terms charge every answer (`consumed: on_request`) or it settled before running: a
    /// thrown `MCPError` then comes back as an `isError` result whose `_meta` carries the receipt and any refund (the
    /// SDK's errors carry no data). The caller gets a PaymentRequired result (no or refused payment), the tool's result
    /// with its receipt in `_meta["x402/payment-response"]`, or an `MCPError` for a refusal before any terms.
    /// - Parameter identity: the caller's credentials as header fields (`Authorization`, `X-Api-Key`) for tools that
    ///   are not anonymous; by default none.
    public func wrap(identity: @escaping @Sendable (CallTool.Parameters) -> HTTPFields = { _ in [:] },
                     _ handler: @escaping @Sendable (CallTool.Parameters) async throws -> CallTool.Result)
        -> @Sendable (CallTool.Parameters) async throws -> CallTool.Result {
        let gate = self.gate
        return { params in
            guard gate.route(of: params.name) != nil else { return try await handler(params) }
            return try await Self.paid(params, gate: gate, headerFields: identity(params), handler: handler)
        }
    }

    /// `tools/list` with prices: each priced tool's `_meta` gains `x402/accepts` and `x402/price` (`MCPToolList.priced`);
    /// everything else is returned as it was.
    public func priced(_ result: ListTools.Result) -> ListTools.Result {
        // Only names and `_meta` go through the JSON form: the rest of each tool is kept as the SDK value it is.
        let listed = result.tools.map { tool -> JSONValue in
            var members: [String: JSONValue] = ["name": .string(tool.name)]
            if let meta = tool._meta, let json = try? MCPBridge.json(meta) { members["_meta"] = json }
            return .object(members)
        }
        let answer = MCPToolList.priced(.result(id: .integer(0), .object(["tools": .array(listed)])), gate: gate)
        guard case .array(let pricedTools)? = answer.result?["tools"], pricedTools.count == result.tools.count else { return result }
        let tools = zip(result.tools, pricedTools).map { tool, priced in
            var tool = tool
            if let fields = priced["_meta"]?.object { tool._meta = MCPBridge.metadata(fields) }
            return tool
        }
        return ListTools.Result(tools: tools, nextCursor: result.nextCursor, _meta: result._meta)
    }

    /// A JSON-RPC error that carries the payment's outcome (the receipt of a call charged although the tool failed, under
    /// `consumed: on_request` or `settle: before`; a refund recorded for it), as an `isError` result whose `_meta` carries
    /// them: the SDK's `MCPError` keeps no `data`, and without them the caller, charged, could not tell it was.
    static func chargedError(_ error: JSONValue) -> JSONValue? {
        guard case .object(let data)? = error["data"] else { return nil }
        var meta: [String: JSONValue] = [:]
        if let receipt = data[ToolCall.paymentResponseKey] { meta[ToolCall.paymentResponseKey] = receipt }
        if let refund = data[MCPToolGate.refundKey] ?? data["refund_id"] { meta[MCPToolGate.refundKey] = refund }
        guard !meta.isEmpty else { return nil }
        let message = error["message"]?.string ?? "error \(error["code"]?.int ?? JSONRPCCode.internalError)"
        return .object(["content": .array([.object(["type": .string("text"), "text": .string(message)])]), "isError": .bool(true),
                        "_meta": .object(meta)])
    }

    /// One priced call through the gate, the handler as its upstream.
    static func paid(_ params: CallTool.Parameters, gate: MCPToolGate, headerFields: HTTPFields,
                     handler: @escaping @Sendable (CallTool.Parameters) async throws -> CallTool.Result) async throws -> CallTool.Result {
        guard let call = ToolCall(try MCPBridge.request(params)) else { throw MCPError.invalidParams("not a tool call") }
        let forwarded = MCPBridge.withoutPayment(params)
        let answer = await gate.call(call, headerFields: headerFields, remoteAddress: nil) { request, _, decided in
            let id = request.id ?? .null
            do {
                let result = try await $paidRequest.withValue(decided.map { TollgatePaidRequest(contract: $0, clientAddress: nil) }) {
                    try await handler(forwarded)
                }
                return .result(id: id, try MCPBridge.json(result))
            } catch let error as MCPError {
                // The tool's own JSON-RPC error: an answer, passed back as it is, and never charged.
                return MCPBridge.message(error, id: id)
            }
        }
        if let error = answer.message.error {
            if let charged = Self.chargedError(error) { return try MCPBridge.result(charged) }
            throw MCPBridge.mcpError(error)
        }
        do {
            guard let result = answer.message.result else { throw MCPError.internalError("the gateway gave no result") }
            return try MCPBridge.result(result)
        } catch {
            // Paid and settled, but not deliverable, and a retry would read the same result: not kept for a retry, refunded
            // (when so configured) as any answer nobody can fetch again.
            if let flow = answer.settledDelivery {
                await gate.gateway.undelivered(flow, detail: "the result could not be read: \(error)", keepForRetry: false)
            }
            throw error
        }
    }
}
