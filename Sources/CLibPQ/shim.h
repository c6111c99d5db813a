#ifndef OUTLINESTREAM_CLIBPQ_SHIM_H
#define OUTLINESTREAM_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#include <poll.h>
#endif
