// A C twin of the decode kernel's tile loop (Sources/Tessera/Decode/DecodeKernel*.swift), kept
// as measured: does the Swift kernel's arithmetic lose to the compiler's best for the same
// blocking? 4 query rows (G = 4, Sq = 1), D = 128, Float16 K and V, tiles of 32 keys: scores
// 4 rows x 2 keys with an 8x8 transpose-reduce, the online softmax (degree-6 exp2), P.V in 4
// blocks of 24 dims and 2 of 16. No prefetch: keep the cache in L2/L3 (512-1536 keys).
//
//   clang -O3 -march=native Profiles/decode-tile-twin.c -o /tmp/twin -lm
//   /tmp/twin 512 7        # keys, phases: 1 scores, 2 softmax, 4 P.V (7: all)
//
// The Swift kernel on the same data (1 kv head x 4 rows; ns per key = the difference of the
// min_s of 1536 and 512 keys over 1024):
//   tessera decode --batch 1 --heads 4 --kv-heads 1 --dim 128 --kv-seq 512 --split 4096 \
//     --dtype f16 --threads 1 --iterations 20000 --warmup 50 --no-triad --json
// Measured 2026-11-30 (Zen 3 VM, 1 thread): twin 26.9-32 ns per key (alone: scores 13.2-14.9,
// softmax 2.8-3.6, P.V 11.0-13.6), the Swift kernel 31.4-32.2.
#include <immintrin.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <math.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
#define D 128
#define BK 32
static int MODE=7;
static inline __m256 exp2v(__m256 x){
  __m256 xc=_mm256_max_ps(x,_mm256_set1_ps(-126)); __m256 magic=_mm256_set1_ps(12582912.f);
  __m256 t=_mm256_add_ps(xc,magic), n=_mm256_sub_ps(t,magic), f=_mm256_sub_ps(xc,n);
  __m256 p=_mm256_set1_ps(1.5353e-4f);
  p=_mm256_fmadd_ps(p,f,_mm256_set1_ps(1.3399e-3f)); p=_mm256_fmadd_ps(p,f,_mm256_set1_ps(9.6184e-3f));
  p=_mm256_fmadd_ps(p,f,_mm256_set1_ps(5.5503e-2f)); p=_mm256_fmadd_ps(p,f,_mm256_set1_ps(0.24022f));
  p=_mm256_fmadd_ps(p,f,_mm256_set1_ps(0.69314f)); p=_mm256_fmadd_ps(p,f,_mm256_set1_ps(1));
  __m256i ni=_mm256_sub_epi32(_mm256_castps_si256(t),_mm256_set1_epi32(0x4B400000));
  __m256 sc=_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(ni,_mm256_set1_epi32(127)),23));
  return _mm256_mul_ps(p,sc);
}
static inline float hsum(__m256 v){ __m128 a=_mm_add_ps(_mm256_castps256_ps128(v),_mm256_extractf128_ps(v,1)); a=_mm_hadd_ps(a,a); a=_mm_hadd_ps(a,a); return _mm_cvtss_f32(a);}
static inline float hmax(__m256 v){ __m128 a=_mm_max_ps(_mm256_castps256_ps128(v),_mm256_extractf128_ps(v,1)); a=_mm_max_ps(a,_mm_movehl_ps(a,a)); a=_mm_max_ss(a,_mm_movehdup_ps(a)); return _mm_cvtss_f32(a);}
static inline __m256 red8(__m256 a0,__m256 a1,__m256 a2,__m256 a3,__m256 a4,__m256 a5,__m256 a6,__m256 a7){
  __m256 b0=_mm256_add_ps(_mm256_blend_ps(a0,a4,0xf0),_mm256_permute2f128_ps(a0,a4,0x21));
  __m256 b1=_mm256_add_ps(_mm256_blend_ps(a1,a5,0xf0),_mm256_permute2f128_ps(a1,a5,0x21));
  __m256 b2=_mm256_add_ps(_mm256_blend_ps(a2,a6,0xf0),_mm256_permute2f128_ps(a2,a6,0x21));
  __m256 b3=_mm256_add_ps(_mm256_blend_ps(a3,a7,0xf0),_mm256_permute2f128_ps(a3,a7,0x21));
  __m256 c0=_mm256_hadd_ps(b0,b1), c1=_mm256_hadd_ps(b2,b3); return _mm256_hadd_ps(c0,c1);
}
void tile(const uint16_t* K,const uint16_t* V,const float* Q,float* S,float* acc,float* m,float* l){
  float pr[128];
  if(MODE&1) for(int j=0;j<BK;j+=2){
    const uint16_t *k0=K+j*D,*k1=k0+D;
    __m256 a00=_mm256_setzero_ps(),a01=a00,a10=a00,a11=a00,a20=a00,a21=a00,a30=a00,a31=a00;
    for(int e=0;e<D;e+=8){
      __m256 x0=_mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(k0+e))), x1=_mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(k1+e)));
      __m256 y=_mm256_loadu_ps(Q+e); a00=_mm256_fmadd_ps(y,x0,a00); a01=_mm256_fmadd_ps(y,x1,a01);
      y=_mm256_loadu_ps(Q+D+e); a10=_mm256_fmadd_ps(y,x0,a10); a11=_mm256_fmadd_ps(y,x1,a11);
      y=_mm256_loadu_ps(Q+2*D+e); a20=_mm256_fmadd_ps(y,x0,a20); a21=_mm256_fmadd_ps(y,x1,a21);
      y=_mm256_loadu_ps(Q+3*D+e); a30=_mm256_fmadd_ps(y,x0,a30); a31=_mm256_fmadd_ps(y,x1,a31);
    }
    _mm256_storeu_ps(pr+(j/2)*8, red8(a00,a01,a10,a11,a20,a21,a30,a31));
  }
  for(int j=0;j<BK/2;j++) for(int r=0;r<4;r++){ S[r*40+2*j]=pr[j*8+2*r]; S[r*40+2*j+1]=pr[j*8+2*r+1]; }
  float alpha[4]={1,1,1,1};
  if(MODE&2) for(int r=0;r<4;r++){
    float* s=S+r*40; __m256 mx=_mm256_set1_ps(-INFINITY);
    for(int c=0;c<BK;c+=8) mx=_mm256_max_ps(mx,_mm256_loadu_ps(s+c));
    float mn=fmaxf(m[r],hmax(mx)); __m256 ms=_mm256_set1_ps(mn), sum=_mm256_setzero_ps();
    for(int c=0;c<BK;c+=8){ __m256 p=exp2v(_mm256_sub_ps(_mm256_loadu_ps(s+c),ms)); _mm256_storeu_ps(s+c,p); sum=_mm256_add_ps(sum,p);}
    alpha[r]=exp2f(m[r]-mn); l[r]=l[r]*alpha[r]+hsum(sum); m[r]=mn;
  }
  if(MODE&4) for(int d=0; d<D; ){
    int w = (d+24<=96)?24:16;
    if(w==24){
      __m256 o[4][3];
      for(int r=0;r<4;r++){ __m256 a=_mm256_set1_ps(alpha[r]); for(int i=0;i<3;i++) o[r][i]=_mm256_mul_ps(_mm256_loadu_ps(acc+r*D+d+8*i),a);}
      for(int c=0;c<BK;c++){
        const uint16_t* v=V+c*D+d;
        __m256 x0=_mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)v)),x1=_mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(v+8))),x2=_mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(v+16)));
        for(int r=0;r<4;r++){ __m256 w0=_mm256_broadcast_ss(S+r*40+c); o[r][0]=_mm256_fmadd_ps(w0,x0,o[r][0]); o[r][1]=_mm256_fmadd_ps(w0,x1,o[r][1]); o[r][2]=_mm256_fmadd_ps(w0,x2,o[r][2]); }
      }
      for(int r=0;r<4;r++) for(int i=0;i<3;i++) _mm256_storeu_ps(acc+r*D+d+8*i,o[r][i]);
    } else {
      __m256 o[4][2];
      for(int r=0;r<4;r++){ __m256 a=_mm256_set1_ps(alpha[r]); for(int i=0;i<2;i++) o[r][i]=_mm256_mul_ps(_mm256_loadu_ps(acc+r*D+d+8*i),a);}
      for(int c=0;c<BK;c++){
        const uint16_t* v=V+c*D+d;
        __m256 x0=_mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)v)),x1=_mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(v+8)));
        for(int r=0;r<4;r++){ __m256 w0=_mm256_broadcast_ss(S+r*40+c); o[r][0]=_mm256_fmadd_ps(w0,x0,o[r][0]); o[r][1]=_mm256_fmadd_ps(w0,x1,o[r][1]); }
      }
      for(int r=0;r<4;r++) for(int i=0;i<2;i++) _mm256_storeu_ps(acc+r*D+d+8*i,o[r][i]);
    }
    d+=w;
  }
}
int main(int argc,char**argv){ MODE=argc>2?atoi(argv[2]):7;
  int NK=atoi(argv[1]);
  uint16_t *K=aligned_alloc(64,NK*D*2),*V=aligned_alloc(64,NK*D*2);
  for(long i=0;i<(long)NK*D;i++){K[i]=0x3000+(i%7);V[i]=0x3000+(i%5);}
  float Q[4*D],S[4*40]={0},acc[4*D],m[4],l[4];
  for(int i=0;i<4*D;i++) Q[i]=0.01f*(i%13);
  for(int rep=0;rep<3;rep++){
    int iters=(int)(200000000L/ ((long)NK*D*8));
    double best=1e9;
    for(int it=0;it<iters;it++){
      for(int i=0;i<4*D;i++) acc[i]=0; for(int r=0;r<4;r++){m[r]=-INFINITY;l[r]=0;}
      double t0=now();
      for(int t=0;t<NK;t+=BK) tile(K+t*D,V+t*D,Q,S,acc,m,l);
      double dt=now()-t0; if(dt<best) best=dt;
    }
    printf("NK %d: best %.2f ns/key [%g]\n", NK, best/NK*1e9, acc[0]);
  }
}
