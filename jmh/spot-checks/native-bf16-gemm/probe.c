// Probe of oneDNN's bf16 matmul (see ../2026-12-05-native-bf16-gemm.md). Build: gcc -O2 -o probe probe.c -ldnnl (Debian libdnnl-dev).
// Usage: OMP_NUM_THREADS=T [DNNL_VERBOSE=1] ./probe M K N [REPS] [bf16|f32]
// bf16 matmul probe: dst[M,N] f32 = src[M,K] bf16 x W^T, W stored [N,K] bf16 (PyTorch Linear layout).
#include <dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stdint.h>
#define CHECK(x) do { dnnl_status_t s = (x); if (s != dnnl_success) { printf("fail %s: %d\n", #x, s); exit(1);} } while(0)
static double now(){struct timespec t; clock_gettime(CLOCK_MONOTONIC,&t); return t.tv_sec+t.tv_nsec*1e-9;}
static int cmp(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
int main(int argc,char**argv){
  int M=atoi(argv[1]),K=atoi(argv[2]),N=atoi(argv[3]); int reps=argc>4?atoi(argv[4]):7;
  const char* dt = argc>5?argv[5]:"bf16";
  dnnl_data_type_t t = strcmp(dt,"f32")==0? dnnl_f32: dnnl_bf16; int es = t==dnnl_f32?4:2;
  dnnl_engine_t eng; CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
  dnnl_stream_t st; CHECK(dnnl_stream_create(&st, eng, dnnl_stream_default_flags));
  dnnl_memory_desc_t smd, wmd, dmd;
  dnnl_dims_t sd={M,K}, ss={K,1}, wd={K,N}, ws={1,K}, dd={M,N}, ds={N,1};
  CHECK(dnnl_memory_desc_init_by_strides(&smd,2,sd,t,ss));
  CHECK(dnnl_memory_desc_init_by_strides(&wmd,2,wd,t,ws));
  CHECK(dnnl_memory_desc_init_by_strides(&dmd,2,dd,dnnl_f32,ds));
  dnnl_matmul_desc_t md; CHECK(dnnl_matmul_desc_init(&md,&smd,&wmd,NULL,&dmd));
  dnnl_primitive_desc_t pd; CHECK(dnnl_primitive_desc_create(&pd,&md,NULL,eng,NULL));
  const char* impl; CHECK(dnnl_primitive_desc_query(pd,dnnl_query_impl_info_str,0,&impl)); printf("impl: %s\n",impl);
  dnnl_primitive_t p; CHECK(dnnl_primitive_create(&p,pd));
  void*a=aligned_alloc(64,(size_t)M*K*es),*b=aligned_alloc(64,(size_t)N*K*es),*c=aligned_alloc(64,(size_t)M*N*4);
  memset(a,0x3f,(size_t)M*K*es); memset(b,0x3c,(size_t)N*K*es);
  dnnl_memory_t ma,mb,mc; CHECK(dnnl_memory_create(&ma,&smd,eng,a)); CHECK(dnnl_memory_create(&mb,&wmd,eng,b)); CHECK(dnnl_memory_create(&mc,&dmd,eng,c));
  dnnl_exec_arg_t args[3]={{DNNL_ARG_SRC,ma},{DNNL_ARG_WEIGHTS,mb},{DNNL_ARG_DST,mc}};
  double ts[64];
  for(int r=0;r<reps;r++){ double t0=now(); CHECK(dnnl_primitive_execute(p,st,3,args)); CHECK(dnnl_stream_wait(st)); ts[r]=now()-t0; }
  double fl=2.0*M*N*K;
  printf("times:"); for(int r=0;r<reps;r++) printf(" %.1fms",ts[r]*1e3); printf("\n");
  qsort(ts+1,reps-1,sizeof(double),cmp);
  printf("%s M=%d K=%d N=%d: median(after first) %.2f ms = %.0f GFLOP/s, min %.0f, max %.0f\n",dt,M,K,N,ts[1+(reps-1)/2]*1e3,fl/ts[1+(reps-1)/2]/1e9,fl/ts[1]/1e9,fl/ts[reps-1]/1e9);
  return 0;
}
