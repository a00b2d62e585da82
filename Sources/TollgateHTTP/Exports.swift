/// `GatewayAssembly` (and so every door) is built from a `GatewayConfiguration`: whoever imports TollgateHTTP
/// gets the configuration model with it.
@_exported import TollgateConfiguration
/// The assembly, the HTTP upstream and the metrics moved to TollgateGateway (no Hummingbird, so the in-process MCP
/// door can build on them); every user of TollgateHTTP still sees them through this import.
@_exported import TollgateGateway
