#ifndef OUTLINESTREAM_CEPOLL_SHIM_H
#define OUTLINESTREAM_CEPOLL_SHIM_H
/* Linux's epoll, which the Glibc module does not export: the load tool's readers. */
#include <sys/epoll.h>
#endif
