// Entry point for `pulumi up`: builds the stack and exports what a user needs to reach it.
import { createStack } from "./stack";

const stack = createStack();

export const librechatUrl = stack.outputs.librechatUrl;
export const mcpEndpoint = stack.outputs.mcpEndpoint;
export const envoyMetricsUrl = stack.outputs.envoyMetricsUrl;
export const envoyContainer = stack.outputs.envoyContainer;
export const gatewayKey = stack.outputs.gatewayKey;
// Undefined, and so not shown, without enableMonitoring.
export const grafanaUrl = stack.outputs.grafanaUrl;
export const grafanaAdminPassword = stack.outputs.grafanaAdminPassword;
export const prometheusUrl = stack.outputs.prometheusUrl;
