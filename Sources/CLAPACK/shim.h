// LAPACKE (Debian liblapacke-dev): the small dense SVD/QR factorizations behind LoRE.
// The large products around them go through oneDNN (CDNNL), which needs no CPU-type hints.
#include <lapacke.h>
