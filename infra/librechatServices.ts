// The services LibreChat's api needs (MongoDB) or can use (Meilisearch for search, a RAG API
// with pgvector for file chat). Each helper adds its containers to the LibreChat component
// and returns the environment LibreChat needs to reach them.
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { ALIASES, CONTAINER_PORTS } from "./config";
import { containerDefaults, healthcheck, onNetwork, pinnedImage, REPLACE_IN_PLACE } from "./docker";
import { meilisearchCheck, mongoCheck, postgresCheck, ragApiCheck } from "./healthchecks";
import { generateSecrets, LibreChatSecrets, POSTGRES_SECRET_SIZES } from "./secrets";

export interface ServiceScope {
  /** Component name, the prefix of every child's name. */
  name: string;
  parent: pulumi.Resource;
  network: docker.Network;
  /** Docker name prefix, e.g. mcp-envoy-wasm-dev. */
  containerPrefix: string;
}

export interface Service {
  container: docker.Container;
  /** Environment entries for LibreChat's api. */
  env: pulumi.Input<string>[];
}

function volume(scope: ServiceScope, id: string): docker.Volume {
  // Named volumes keep data across container replacement; `pulumi destroy` deletes them.
  return new docker.Volume(`${scope.name}-${id}-data`, { name: `${scope.containerPrefix}-${id}` }, { parent: scope.parent });
}

function secretEnv<T>(values: pulumi.Output<T>, key: string, pick: (s: T) => string) {
  return values.apply((s) => `${key}=${pick(s)}`);
}

export function mongodb(scope: ServiceScope, image: string, after: pulumi.Resource[]): Service {
  const data = volume(scope, "mongodb");
  const container = new docker.Container(
    `${scope.name}-mongodb`,
    {
      name: `${scope.containerPrefix}-mongodb`,
      image: pinnedImage(`${scope.name}-mongodb-image`, image, scope.parent).imageId,
      // Reachable only on the stack network, never published, as in LibreChat's own compose.
      command: ["mongod", "--bind_ip_all"],
      volumes: [{ volumeName: data.name, containerPath: "/data/db" }],
      networksAdvanced: [onNetwork(scope.network, ALIASES.mongodb)],
      healthcheck: healthcheck(mongoCheck(), "60s"),
      ...containerDefaults(180),
    },
    { parent: scope.parent, dependsOn: [scope.network, ...after], ...REPLACE_IN_PLACE },
  );
  return { container, env: [`MONGO_URI=mongodb://${ALIASES.mongodb}:${CONTAINER_PORTS.mongodb}/LibreChat`] };
}

export function meilisearch(
  scope: ServiceScope,
  image: string,
  secrets: pulumi.Output<LibreChatSecrets>,
  after: pulumi.Resource[],
): Service {
  const data = volume(scope, "meilisearch");
  const masterKey = secretEnv(secrets, "MEILI_MASTER_KEY", (s) => s.meiliMasterKey);
  const port = CONTAINER_PORTS.meilisearch;
  const container = new docker.Container(
    `${scope.name}-meilisearch`,
    {
      name: `${scope.containerPrefix}-meilisearch`,
      image: pinnedImage(`${scope.name}-meilisearch-image`, image, scope.parent).imageId,
      envs: [masterKey, "MEILI_NO_ANALYTICS=true", "MEILI_ENV=production"],
      volumes: [{ volumeName: data.name, containerPath: "/meili_data" }],
      networksAdvanced: [onNetwork(scope.network, ALIASES.meilisearch)],
      healthcheck: healthcheck(meilisearchCheck(port), "30s"),
      ...containerDefaults(120),
    },
    { parent: scope.parent, dependsOn: [scope.network, ...after], ...REPLACE_IN_PLACE },
  );
  return {
    container,
    env: ["SEARCH=true", `MEILI_HOST=http://${ALIASES.meilisearch}:${port}`, "MEILI_NO_ANALYTICS=true", masterKey],
  };
}

/** The RAG API's embeddings key; the lite image embeds through a remote API (OpenAI) only. */
export function ragEmbeddingsEnv(openaiKey: string): string {
  if (openaiKey === "" || openaiKey === "user_provided") {
    throw new Error(
      "enableRag needs an OpenAI key for embeddings: run `npx pulumi config set --secret openaiApiKey <key>`, " +
        "or `npx pulumi config set enableRag false`.",
    );
  }
  return `RAG_OPENAI_API_KEY=${openaiKey}`;
}

export function rag(
  scope: ServiceScope,
  images: { pgvector: string; ragApi: string },
  secrets: pulumi.Output<LibreChatSecrets>,
  openaiKey: pulumi.Output<string>,
  after: pulumi.Resource[],
): Service & { vectordb: docker.Container } {
  const db = { POSTGRES_DB: "librechat_rag", POSTGRES_USER: "librechat" };
  // Not one of LibreChat's secrets: it must live as long as the volume below (secrets.ts).
  const password = generateSecrets(`${scope.name}-vectordb-password`, POSTGRES_SECRET_SIZES, scope.parent).values;
  const dbEnv = [`POSTGRES_DB=${db.POSTGRES_DB}`, `POSTGRES_USER=${db.POSTGRES_USER}`,
    secretEnv(password, "POSTGRES_PASSWORD", (s) => s.postgresPassword)];
  const data = volume(scope, "vectordb");
  const vectordb = new docker.Container(
    `${scope.name}-vectordb`,
    {
      name: `${scope.containerPrefix}-vectordb`,
      image: pinnedImage(`${scope.name}-vectordb-image`, images.pgvector, scope.parent).imageId,
      envs: dbEnv,
      volumes: [{ volumeName: data.name, containerPath: "/var/lib/postgresql/data" }],
      networksAdvanced: [onNetwork(scope.network, ALIASES.vectordb)],
      healthcheck: healthcheck(postgresCheck(db.POSTGRES_USER, db.POSTGRES_DB), "30s"),
      ...containerDefaults(120),
    },
    { parent: scope.parent, dependsOn: [scope.network, ...after], ...REPLACE_IN_PLACE },
  );
  const embeddingsKey = openaiKey.apply(ragEmbeddingsEnv);
  const port = CONTAINER_PORTS.ragApi;
  const container = new docker.Container(
    `${scope.name}-rag-api`,
    {
      name: `${scope.containerPrefix}-rag-api`,
      image: pinnedImage(`${scope.name}-rag-api-image`, images.ragApi, scope.parent).imageId,
      envs: [
        ...dbEnv,
        `DB_HOST=${ALIASES.vectordb}`,
        `DB_PORT=${CONTAINER_PORTS.postgres}`,
        `RAG_PORT=${port}`,
        "EMBEDDINGS_PROVIDER=openai",
        embeddingsKey,
        // Shared with LibreChat, which signs the tokens the RAG API checks.
        secretEnv(secrets, "JWT_SECRET", (s) => s.jwtSecret),
      ],
      networksAdvanced: [onNetwork(scope.network, ALIASES.ragApi)],
      healthcheck: healthcheck(ragApiCheck(port), "60s"),
      ...containerDefaults(180),
    },
    { parent: scope.parent, dependsOn: [scope.network, vectordb], ...REPLACE_IN_PLACE },
  );
  return { container, vectordb, env: [`RAG_API_URL=http://${ALIASES.ragApi}:${port}`, `RAG_PORT=${port}`] };
}
