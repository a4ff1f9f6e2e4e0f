// Package mmsg is the benchmark harness's thin wrapper over Linux recvmmsg/sendmmsg on a raw
// UDP socket: the load generator sends with it and the floor and Redis comparators receive
// with it. It owns only its own file descriptors and pre-allocated header arrays, so a
// batch costs one syscall and no allocation.
//
// It must not import anything from gateway/, agent/ or site/: the harness measures those
// processes from the outside. Other OSes get stubs that return ErrUnsupported.
package mmsg
