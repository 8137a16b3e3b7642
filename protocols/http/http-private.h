/* Shared between the HTTP server's files; not an API. */
#pragma once

#include <glib.h>
#include <microhttpd.h>

#include "http-server.h"
#include "metrics.h"

G_BEGIN_DECLS

typedef struct _NcHttpTxRegistry NcHttpTxRegistry;

struct _NcHttpServer {
  NcDb *db;
  NcConfig *config;
  GMainContext *main_context;
  struct MHD_Daemon *http;
  struct MHD_Daemon *https;
  guint16 http_port;
  guint16 https_port;
  gsize max_body;
  NcMetrics *metrics;          /* HTTP request counters */
  NcHttpTxRegistry *txs;
  gint stopping;               /* atomic */
  gint started;                /* atomic: listening */
  char *tls_cert;              /* PEM text kept alive for MHD */
  char *tls_key;
};

/* One request as the handlers see it. */
typedef struct {
  NcHttpServer *server;
  struct MHD_Connection *conn;
  const char *method;
  const char *path;
  const char *body;
  gsize body_len;
  char *client_addr;           /* numeric address */
  gboolean tls;
  /* after authentication */
  char *user;                  /* NULL when auth is disabled */
  NcUserRole role;
} NcHttpRequest;

/* Reply with a JSON body (takes `json`). Extra headers: NULL-terminated
 * name/value pairs. */
enum MHD_Result nc_http_reply (NcHttpRequest *req, guint status, char *json, ...)
  G_GNUC_NULL_TERMINATED;
/* Reply {"errors":[{"code":<status of error>,"message":...}]} with `status`
 * (0 = the error's HTTP status from the error table). */
enum MHD_Result nc_http_reply_error (NcHttpRequest *req, guint status, const GError *error);
/* Counts a response in nornicdb_http_requests_total{code}. */
void nc_http_count_status (NcHttpServer *server, guint status);
/* "http://host:port" as clients should use it (advertised address, else the
 * request's Host header). (transfer full) */
char *nc_http_base_url (NcHttpRequest *req);

/* The transaction API (http-tx.c). */
NcHttpTxRegistry *nc_http_tx_registry_new (NcHttpServer *server);
void nc_http_tx_registry_free (NcHttpTxRegistry *reg);
enum MHD_Result nc_http_tx_handle (NcHttpRequest *req);

G_END_DECLS
