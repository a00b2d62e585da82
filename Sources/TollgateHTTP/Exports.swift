/// `GatewayAssembly` (and so every door) is built from a `GatewayConfiguration`: whoever imports TollgateHTTP
/// gets the configuration model with it.
@_exported import TollgateConfiguration
