// oneDNN vs OpenBLAS on the model shapes (BENCHMARKS.md, "BLAS decision").
// Build: gcc -O2 scripts/bench/blas_compare.c -o /tmp/blascmp -ldnnl -lopenblas
// Run:   /tmp/blascmp 0   (oneDNN)   /tmp/blascmp 1   (OpenBLAS); OMP_NUM_THREADS / OPENBLAS_NUM_THREADS=1 for one thread.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <dnnl.h>
#include <cblas.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(int argc,char**argv){
  int shapes[][3]={{1024,1024,1024},{512,576,576},{512,192,576},{512,1536,576},{512,576,1536},{512,49152,576},{1,576,576},{1,1536,576},{1,576,1536},{1,49152,576}};
  int which=atoi(argv[1]); // 0 dnnl 1 openblas
  for(int s=0;s<10;s++){
    int m=shapes[s][0],n=shapes[s][1],k=shapes[s][2];
    float*a=malloc(sizeof(float)*m*k),*b=malloc(sizeof(float)*n*k),*c=malloc(sizeof(float)*m*n);
    for(long i=0;i<(long)m*k;i++)a[i]=(rand()%100)/100.f;
    for(long i=0;i<(long)n*k;i++)b[i]=(rand()%100)/100.f;
    double best=1e9; int reps = m==1? 200: (n>10000?5:20);
    for(int r=0;r<7;r++){
      double t0=now();
      for(int q=0;q<reps;q++){
        if(which==0) dnnl_sgemm('N','T',m,n,k,1.f,a,k,b,k,0.f,c,n);
        else cblas_sgemm(CblasRowMajor,CblasNoTrans,CblasTrans,m,n,k,1.f,a,k,b,k,0.f,c,n);
      }
      double t=(now()-t0)/reps; if(t<best)best=t;
    }
    printf("%s m=%d n=%d k=%d  %.3f ms  %.1f GFLOP/s  %.1f GB/s(W)\n",which?"openblas":"dnnl",m,n,k,best*1e3,2.0*m*n*k/best/1e9,4.0*n*k/best/1e9);
    free(a);free(b);free(c);
  }
}
